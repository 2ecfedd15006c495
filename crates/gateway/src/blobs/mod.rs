//! The blob store (S1-storage): encrypted records ([`SealedRecord`]s) kept off chain, each
//! under the SHA-256 of its bytes — the `blob_hash` the patient's storage pointer commits to.
//!
//! Content addressing makes every operation simple to reason about: a blob's key is its hash,
//! so storing the same blob twice is the same write (idempotent), and reading checks the bytes
//! against the key, so a blob altered in storage is reported as [`BlobError::Tampered`] and
//! never returned.
//!
//! Two backends, through `object_store`:
//! - [`BlobStore::local`]: files under a data directory (the default). object_store's
//!   `LocalFileSystem` writes each blob to a staging file and renames it into place; with
//!   `with_fsync(true)`, which this store always sets, it `fsync`s the file and every affected
//!   parent directory before the write returns, so a blob reported stored survives a power
//!   loss or `kill -9`. (Deletes are not fsynced; a deleted blob may come back after a power
//!   loss, which is harmless for a content-addressed blob.)
//! - [`BlobStore::s3`]: any S3 compatible store, e.g.
//!   `s3://records?endpoint=http://127.0.0.1:9000&region=us-east-1&allow_http=true`. Options
//!   missing from the URL (credentials above all) come from the `AWS_*` environment variables
//!   object_store reads (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ENDPOINT`, …).

mod sealed;

pub use sealed::{
    OpeningBinding, RecordBinding, RecordKey, SealError, SealedOpening, SealedRecord,
};

use bytes::Bytes;
use medchain_types::{ContentHash, TextError, Uri};
use object_store::{
    ObjectStore, ObjectStoreExt as _, aws::AmazonS3Builder, aws::AmazonS3ConfigKey,
    local::LocalFileSystem, path::Path as StorePath,
};
use std::{path::PathBuf, str::FromStr, sync::Arc};
use url::Url;

/// The default size cap: a FHIR bundle with attachments, sealed. Larger records belong in an
/// imaging archive, not in this store.
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 16 * 1024 * 1024;

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No blob with this hash in the store.
    #[error("blob {0} is not in the store")]
    NotFound(ContentHash),
    /// The stored bytes are not the blob asked for: altered or corrupted in storage.
    #[error("blob {expected} was altered in storage: its bytes hash to {found}")]
    Tampered {
        /// The hash the blob is stored under.
        expected: ContentHash,
        /// The hash of the bytes found there.
        found: ContentHash,
    },
    /// Larger than the store's cap.
    #[error("a blob of {size} bytes exceeds the store's cap of {max} bytes")]
    TooLarge {
        /// The blob's size.
        size: u64,
        /// The cap.
        max: u64,
    },
    /// A store URL that cannot be used.
    #[error("blob store URL {url:?}: {reason}")]
    Url {
        /// The URL without its query (which may hold credentials).
        url: String,
        /// What is wrong with it and what to write instead.
        reason: String,
    },
    /// The local data directory cannot be created or used.
    #[error("blob directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A blob's location does not fit a storage pointer.
    #[error("blob location: {0}")]
    Location(#[from] TextError),
    /// The backend failed (I/O, network, credentials).
    #[error("blob store: {0}")]
    Backend(Box<object_store::Error>),
}

impl From<object_store::Error> for BlobError {
    fn from(error: object_store::Error) -> Self {
        Self::Backend(Box::new(error))
    }
}

/// Encrypted record blobs, content-addressed, on a local directory or an S3 compatible store.
#[derive(Clone, Debug)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// Where blobs live inside the store (the S3 URL's path; empty for a local directory).
    root: StorePath,
    /// What a blob's location starts with: `file:///dir` or `s3://bucket`.
    base: String,
    max_bytes: u64,
}

impl BlobStore {
    /// Blobs as files under `dir` (created if missing), every write fsynced.
    pub fn local(dir: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let dir = dir.into();
        let data_dir = |source| BlobError::DataDir {
            path: dir.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(data_dir)?;
        let dir = dir.canonicalize().map_err(data_dir)?;
        let store = LocalFileSystem::new_with_prefix(&dir)?.with_fsync(true);
        Ok(Self {
            store: Arc::new(store),
            root: StorePath::default(),
            base: format!("file://{}", dir.display()),
            max_bytes: DEFAULT_MAX_BLOB_BYTES,
        })
    }

    /// Blobs in an S3 compatible bucket: `s3://bucket[/prefix][?option=value&…]`, where each
    /// option is an object_store S3 setting (`endpoint`, `region`, `access_key_id`,
    /// `secret_access_key`, `allow_http`, …). Anything not in the URL comes from `AWS_*`
    /// environment variables. Nothing is contacted until the first operation.
    pub fn s3(url: &str) -> Result<Self, BlobError> {
        // The query may hold credentials: errors (and so logs) show the URL without it.
        let without_query = url.split('?').next().unwrap_or_default();
        let invalid = |reason: String| BlobError::Url {
            url: without_query.to_string(),
            reason,
        };
        let parsed = Url::parse(url).map_err(|e| invalid(e.to_string()))?;
        if parsed.scheme() != "s3" {
            return Err(invalid("expected s3://bucket[/prefix][?endpoint=…]".into()));
        }
        let bucket = parsed
            .host_str()
            .filter(|bucket| !bucket.is_empty())
            .ok_or_else(|| invalid("no bucket: expected s3://bucket".into()))?;
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        for (name, value) in parsed.query_pairs() {
            let key = s3_option(&name).map_err(|_| {
                invalid(format!(
                    "unknown option {name:?} (object_store S3 settings such as endpoint, region, allow_http)"
                ))
            })?;
            builder = builder.with_config(key, value.into_owned());
        }
        let root = StorePath::parse(parsed.path()).map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            store: Arc::new(builder.build()?),
            base: format!("s3://{bucket}"),
            root,
            max_bytes: DEFAULT_MAX_BLOB_BYTES,
        })
    }

    /// The same store with another size cap.
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Stores `blob` under its SHA-256 and returns that hash. Storing a blob that is already
    /// there rewrites the same bytes (repairing an altered copy); either way it is durable when
    /// this returns.
    pub async fn put(&self, blob: impl Into<Bytes>) -> Result<ContentHash, BlobError> {
        let blob = blob.into();
        self.check_size(blob.len() as u64)?;
        let hash = ContentHash::of(&blob);
        self.store.put(&self.path(&hash), blob.into()).await?;
        Ok(hash)
    }

    /// The blob stored under `hash`, checked against it: altered bytes are an error, never
    /// returned.
    pub async fn get(&self, hash: &ContentHash) -> Result<Bytes, BlobError> {
        let found = self
            .store
            .get(&self.path(hash))
            .await
            .map_err(|e| self.missing(hash, e))?;
        self.check_size(found.meta.size)?;
        let bytes = found.bytes().await.map_err(|e| self.missing(hash, e))?;
        let actual = ContentHash::of(&bytes);
        if actual != *hash {
            return Err(BlobError::Tampered {
                expected: *hash,
                found: actual,
            });
        }
        Ok(bytes)
    }

    /// Whether a blob is stored under `hash` (its bytes are not checked).
    pub async fn exists(&self, hash: &ContentHash) -> Result<bool, BlobError> {
        match self.store.head(&self.path(hash)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Removes the blob under `hash`; removing a missing blob is not an error.
    pub async fn delete(&self, hash: &ContentHash) -> Result<(), BlobError> {
        match self.store.delete(&self.path(hash)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Where the blob under `hash` is, as a storage pointer names it (S1-storage), e.g.
    /// `s3://records/ab12…` or `file:///var/lib/medchain/blobs/ab12…`.
    pub fn location(&self, hash: &ContentHash) -> Result<Uri, BlobError> {
        Ok(Uri::new(format!("{}/{}", self.base, self.path(hash)))?)
    }

    fn path(&self, hash: &ContentHash) -> StorePath {
        self.root.clone().join(hash.to_string())
    }

    fn check_size(&self, size: u64) -> Result<(), BlobError> {
        if size > self.max_bytes {
            return Err(BlobError::TooLarge {
                size,
                max: self.max_bytes,
            });
        }
        Ok(())
    }

    fn missing(&self, hash: &ContentHash, error: object_store::Error) -> BlobError {
        match error {
            object_store::Error::NotFound { .. } => BlobError::NotFound(*hash),
            other => other.into(),
        }
    }
}

/// An S3 option by its object_store name; `allow_http` and the other HTTP client settings are
/// accepted without the `aws_` prefix too.
fn s3_option(name: &str) -> Result<AmazonS3ConfigKey, object_store::Error> {
    AmazonS3ConfigKey::from_str(name)
        .or_else(|_| object_store::ClientConfigKey::from_str(name).map(AmazonS3ConfigKey::Client))
}
