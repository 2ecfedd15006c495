//! What a validator keeps of the threshold PKG's key generation in its data directory, every
//! file mode 0600 and written atomically (temporary file, fsync, rename):
//!
//! - `pkg/dealer-seed`: 32 random bytes seeding this validator's dealing, so a restarted node
//!   deals exactly the same polynomial again (acknowledgements it already collected stay valid,
//!   and no player ever sees two dealings from it);
//! - `pkg/dealings-<round>`: the dealings this validator acknowledged as a player (the dealer's
//!   commitment and its private share for us), persisted *before* the acknowledgement leaves, so
//!   a restarted node can still derive its share from every dealing it vouched for;
//! - `pkg-share.json`: the result, this validator's master-key share and the public output
//!   ([`ShareStore`]);
//! - `pkg-public.json` (mode 0644, nothing secret): the threshold, validator count and public
//!   polynomial ([`PublicPkg`]), written with the share, for operators and `medchain devnet`.
//!
//! Secret bytes are zeroized in memory once used.

use medchain_types::G1Point;
use serde::{Deserialize, Serialize};
use std::{
    fs,
    io::Write as _,
    os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
};
use zeroize::{Zeroize, Zeroizing};

/// File name of the share, in the data directory.
pub const SHARE_FILE: &str = "pkg-share.json";
/// File name of the public part, in the data directory.
pub const PUBLIC_FILE: &str = "pkg-public.json";
/// Directory of the DKG's working files, in the data directory.
pub const WORK_DIR: &str = "pkg";

/// Why the PKG files could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ShareStoreError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is readable by other users.
    #[error("{path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A file does not hold what it should.
    #[error("{path} is corrupt: {reason}; move it away to run the node without it")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// This validator's master-key share and the public output of the DKG that produced it.
#[derive(Clone, Serialize, Deserialize)]
struct StoredShare {
    /// The DKG round.
    round: u64,
    /// Shares needed to extract a key.
    threshold: u32,
    /// The evaluation point x of the share: participant index + 1.
    x: u32,
    /// The share s_x = f(x), 32-byte big-endian scalar, hex.
    share: String,
    /// The public polynomial's compressed G1 coefficients, `[0]` = P_pub.
    public_polynomial: Vec<G1Point>,
    /// Whether the share was revealed on chain (this validator did not acknowledge every
    /// selected dealing in time): then anyone can compute it, and it counts as public.
    revealed: bool,
    /// The library's encoded `Output` (hex), for a future resharing round.
    output: String,
}

impl Drop for StoredShare {
    fn drop(&mut self) {
        self.share.zeroize();
    }
}

/// The public result of the DKG as this validator saw it (`pkg-public.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicPkg {
    /// The DKG round.
    pub round: u64,
    /// Shares needed to extract a key.
    pub threshold: u32,
    /// Validators holding shares.
    pub validators: u32,
    /// P_pub, compressed G1.
    pub master_public_key: G1Point,
    /// The public polynomial's compressed G1 coefficients, P_pub first.
    pub public_polynomial: Vec<G1Point>,
}

impl PublicPkg {
    /// Reads `pkg-public.json` from a node's data directory; `None` until its DKG completed.
    pub fn read(data_dir: &Path) -> Option<Self> {
        let bytes = fs::read(data_dir.join(PUBLIC_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// What a DKG produced for this validator, to be saved with [`ShareStore::save`].
pub struct NewShare {
    /// The DKG round.
    pub round: u64,
    /// Shares needed to extract a key.
    pub threshold: u32,
    /// Validators holding shares.
    pub validators: u32,
    /// Evaluation point of the share.
    pub x: u32,
    /// The share, big-endian.
    pub share: Zeroizing<[u8; 32]>,
    /// The public polynomial, P_pub first.
    pub public_polynomial: Vec<G1Point>,
    /// Whether the share was revealed on chain.
    pub revealed: bool,
    /// The encoded DKG output.
    pub output: Vec<u8>,
}

/// The validator's threshold-PKG share, loaded from (and saved to) `pkg-share.json` in its data
/// directory. Cheap to clone: clones share one view, so the DKG driver's save is seen at once by
/// the enrolment routes.
#[derive(Clone)]
pub struct ShareStore {
    path: PathBuf,
    share: Arc<RwLock<Option<StoredShare>>>,
}

impl ShareStore {
    /// Opens the store of the node whose data directory is `data_dir`, loading the share if the
    /// DKG already completed for it.
    pub fn open(data_dir: &Path) -> Result<Self, ShareStoreError> {
        let path = data_dir.join(SHARE_FILE);
        let share = match read_private(&path)? {
            None => None,
            Some(bytes) => Some(serde_json::from_slice::<StoredShare>(&bytes).map_err(|e| {
                ShareStoreError::Corrupt {
                    path: path.clone(),
                    reason: e.to_string(),
                }
            })?),
        };
        if let Some(stored) = &share {
            decode_share(&stored.share).ok_or_else(|| ShareStoreError::Corrupt {
                path: path.clone(),
                reason: "the share is not 32 hex bytes".into(),
            })?;
        }
        Ok(Self {
            path,
            share: Arc::new(RwLock::new(share)),
        })
    }

    /// The file the share lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This validator's master-key share: its evaluation point x (participant index + 1) and
    /// s_x as a 32-byte big-endian scalar. `None` until the DKG completed, or if this validator
    /// could not derive its share (see the node's log).
    pub fn master_share(&self) -> Option<(u32, Zeroizing<[u8; 32]>)> {
        self.read(|stored| Some((stored.x, decode_share(&stored.share)?)))
    }

    /// The public polynomial's compressed G1 coefficients (P_pub first), as on chain under
    /// `cfg/pkg`.
    pub fn public_polynomial(&self) -> Option<Vec<G1Point>> {
        self.read(|stored| Some(stored.public_polynomial.clone()))
    }

    /// Shares needed to extract a key.
    pub fn threshold(&self) -> Option<u32> {
        self.read(|stored| Some(stored.threshold))
    }

    /// Whether the share was revealed on chain (and so is public).
    pub fn revealed(&self) -> Option<bool> {
        self.read(|stored| Some(stored.revealed))
    }

    /// Whether this validator holds its share.
    pub fn is_ready(&self) -> bool {
        self.read(|_| Some(())).is_some()
    }

    /// Saves `new` (the share mode 0600, its public part 0644) and makes it visible to every
    /// clone.
    pub fn save(&self, new: NewShare) -> Result<(), ShareStoreError> {
        let public = PublicPkg {
            round: new.round,
            threshold: new.threshold,
            validators: new.validators,
            master_public_key: new.public_polynomial[0],
            public_polynomial: new.public_polynomial.clone(),
        };
        let stored = StoredShare {
            round: new.round,
            threshold: new.threshold,
            x: new.x,
            share: hex::encode(*new.share),
            public_polynomial: new.public_polynomial,
            revealed: new.revealed,
            output: hex::encode(new.output),
        };
        let json = Zeroizing::new(serde_json::to_vec_pretty(&stored).map_err(|e| {
            ShareStoreError::Corrupt {
                path: self.path.clone(),
                reason: e.to_string(),
            }
        })?);
        write_file(&self.path, &json, 0o600)?;
        if let Some(dir) = self.path.parent() {
            let public = serde_json::to_vec_pretty(&public).unwrap_or_default();
            write_file(&dir.join(PUBLIC_FILE), &public, 0o644)?;
        }
        *self.share.write().unwrap_or_else(|e| e.into_inner()) = Some(stored);
        Ok(())
    }

    fn read<T>(&self, f: impl FnOnce(&StoredShare) -> Option<T>) -> Option<T> {
        self.share
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(f)
    }
}

fn decode_share(text: &str) -> Option<Zeroizing<[u8; 32]>> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text, bytes.as_mut()).ok()?;
    Some(bytes)
}

/// Reads a private file; `None` if it does not exist. Refuses one other users can read.
pub(crate) fn read_private(path: &Path) -> Result<Option<Zeroizing<Vec<u8>>>, ShareStoreError> {
    let io = |source| ShareStoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ShareStoreError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    fs::read(path)
        .map(|bytes| Some(Zeroizing::new(bytes)))
        .map_err(io)
}

/// Writes a private file atomically: a 0600 temporary file next to it, fsynced, renamed over it.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ShareStoreError> {
    write_file(path, bytes, 0o600)
}

/// Writes a file with permissions `mode` atomically (temporary file, fsync, rename).
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), ShareStoreError> {
    let io = |source| ShareStoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io)?;
    }
    let temporary = path.with_extension("tmp");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&temporary)
        .map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    fs::rename(&temporary, path).map_err(io)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_share() -> NewShare {
        NewShare {
            round: 0,
            threshold: 3,
            validators: 4,
            x: 2,
            share: Zeroizing::new([9; 32]),
            public_polynomial: vec![G1Point([1; 48]), G1Point([2; 48])],
            revealed: false,
            output: vec![1, 2, 3],
        }
    }

    #[test]
    fn a_saved_share_reloads_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let store = ShareStore::open(dir.path()).unwrap();
        assert!(store.master_share().is_none());
        let view = store.clone();
        store.save(new_share()).unwrap();
        let (x, share) = view.master_share().expect("visible to clones at once");
        assert_eq!((x, *share), (2, [9; 32]));

        let mode = fs::metadata(dir.path().join(SHARE_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let reloaded = ShareStore::open(dir.path()).unwrap();
        assert_eq!(*reloaded.master_share().unwrap().1, [9; 32]);
        assert_eq!(reloaded.threshold(), Some(3));
        assert_eq!(reloaded.public_polynomial().unwrap().len(), 2);
        assert_eq!(reloaded.revealed(), Some(false));
        let public = PublicPkg::read(dir.path()).expect("public part written");
        assert_eq!(public.master_public_key, G1Point([1; 48]));
        let text = fs::read_to_string(dir.path().join(PUBLIC_FILE)).unwrap();
        assert!(!text.contains(&hex::encode([9u8; 32])), "the share leaked");
    }

    #[test]
    fn a_share_others_can_read_or_a_corrupt_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        ShareStore::open(dir.path())
            .unwrap()
            .save(new_share())
            .unwrap();
        let path = dir.path().join(SHARE_FILE);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            ShareStore::open(dir.path()),
            Err(ShareStoreError::Permissions { .. })
        ));
        write_private(&path, b"{}").unwrap();
        assert!(matches!(
            ShareStore::open(dir.path()),
            Err(ShareStoreError::Corrupt { .. })
        ));
    }
}
