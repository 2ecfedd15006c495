//! The blob store on both backends — a local directory and a real S3 protocol server (moto) —
//! through the same scenario: content addressing, idempotent puts, tamper detection, the size
//! cap, exists/delete, and a store reopened on the same data.

use medchain_gateway::blobs::{BlobError, BlobStore, RecordBinding, RecordKey, SealedRecord};
use medchain_gateway::testkit::Moto;
use medchain_state::testkit::address;
use medchain_types::ContentHash;
use object_store::{ObjectStoreExt as _, aws::AmazonS3Builder, path::Path as StorePath};
use std::future::Future;

const BUNDLE: &[u8] = br#"{"resourceType":"Bundle","type":"collection","entry":[]}"#;

fn sealed_bundle() -> (Vec<u8>, RecordKey, RecordBinding) {
    let key = RecordKey::new([42; 32]);
    let binding = RecordBinding {
        patient: address(5),
        index: 0,
        record_hash: ContentHash::of(BUNDLE),
    };
    let blob = SealedRecord::seal(&key, &binding, BUNDLE)
        .unwrap()
        .to_bytes();
    (blob, key, binding)
}

/// What every backend must do. `reopen` gives a second store on the same data; `tamper`
/// overwrites the bytes stored under a hash behind the store's back.
async fn scenario<T, F>(store: BlobStore, reopen: impl Fn() -> BlobStore, tamper: T)
where
    T: Fn(ContentHash, Vec<u8>) -> F,
    F: Future<Output = ()>,
{
    let (blob, key, binding) = sealed_bundle();
    let hash = store.put(blob.clone()).await.unwrap();
    assert_eq!(hash, ContentHash::of(&blob), "content-addressed by SHA-256");
    assert!(store.exists(&hash).await.unwrap());
    assert_eq!(store.put(blob.clone()).await.unwrap(), hash, "idempotent");

    let read = reopen().get(&hash).await.unwrap();
    assert_eq!(read, blob, "a reopened store reads what was written");
    let opened = SealedRecord::from_bytes(&read)
        .unwrap()
        .open(&key, &binding)
        .unwrap();
    assert_eq!(opened.as_slice(), BUNDLE);

    let mut altered = blob.clone();
    altered[20] ^= 0x80;
    tamper(hash, altered.clone()).await;
    match store.get(&hash).await {
        Err(BlobError::Tampered { expected, found }) => {
            assert_eq!((expected, found), (hash, ContentHash::of(&altered)));
        }
        other => panic!("a tampered blob was not refused: {other:?}"),
    }
    // Putting the genuine blob again repairs the copy.
    store.put(blob.clone()).await.unwrap();
    assert_eq!(store.get(&hash).await.unwrap(), blob);

    let missing = ContentHash::of(b"never stored");
    assert!(!store.exists(&missing).await.unwrap());
    assert!(matches!(
        store.get(&missing).await,
        Err(BlobError::NotFound(h)) if h == missing
    ));

    let small = reopen().with_max_bytes(blob.len() as u64 - 1);
    assert!(matches!(
        small.put(blob.clone()).await,
        Err(BlobError::TooLarge { .. })
    ));
    assert!(
        matches!(small.get(&hash).await, Err(BlobError::TooLarge { .. })),
        "the cap holds on reads too"
    );

    store.delete(&hash).await.unwrap();
    assert!(!store.exists(&hash).await.unwrap());
    store.delete(&hash).await.unwrap();
    assert!(matches!(
        store.get(&hash).await,
        Err(BlobError::NotFound(_))
    ));
}

#[tokio::test]
async fn local_blobs_are_content_addressed_durable_and_tamper_evident() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("blobs");
    let store = BlobStore::local(&data).unwrap();
    let (blob, ..) = sealed_bundle();
    let hash = ContentHash::of(&blob);
    let location = store.location(&hash).unwrap();
    let file = data.canonicalize().unwrap().join(hash.to_string());
    assert_eq!(location.as_str(), format!("file://{}", file.display()));
    scenario(
        store,
        || BlobStore::local(&data).unwrap(),
        |hash, bytes| {
            let path = data.join(hash.to_string());
            async move { std::fs::write(path, bytes).unwrap() }
        },
    )
    .await;
    // No staging files are left behind.
    assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0);
}

#[test]
fn a_blob_directory_that_cannot_be_created_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    assert!(matches!(
        BlobStore::local(file.join("blobs")),
        Err(BlobError::DataDir { .. })
    ));
}

#[tokio::test]
async fn s3_blobs_on_a_real_s3_server_behave_like_local_ones() {
    let moto = Moto::start();
    moto.create_bucket("records");
    let url = format!(
        "s3://records/hospital-a?endpoint={}&region=us-east-1&allow_http=true&access_key_id=test&secret_access_key=test",
        moto.endpoint
    );
    let store = BlobStore::s3(&url).unwrap();
    let (blob, ..) = sealed_bundle();
    let hash = ContentHash::of(&blob);
    assert_eq!(
        store.location(&hash).unwrap().as_str(),
        format!("s3://records/hospital-a/{hash}")
    );
    // The tamperer writes straight to the bucket, as anyone with the bucket's keys could.
    let raw = AmazonS3Builder::new()
        .with_bucket_name("records")
        .with_endpoint(&moto.endpoint)
        .with_region("us-east-1")
        .with_allow_http(true)
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .unwrap();
    scenario(
        store,
        || BlobStore::s3(&url).unwrap(),
        |hash, bytes| {
            let raw = &raw;
            async move {
                let path = StorePath::from(format!("hospital-a/{hash}"));
                raw.put(&path, bytes.into()).await.unwrap();
            }
        },
    )
    .await;

    let no_bucket = BlobStore::s3(&url.replace("s3://records/", "s3://no-such-bucket/")).unwrap();
    assert!(matches!(
        no_bucket.put(b"blob".to_vec()).await,
        Err(BlobError::Backend(_))
    ));
}

#[test]
fn unusable_s3_urls_are_refused_with_the_reason() {
    for url in [
        "http://records",
        "s3://",
        "s3://records?no_such_option=1",
        "not a url",
    ] {
        assert!(
            matches!(BlobStore::s3(url), Err(BlobError::Url { .. })),
            "{url} was accepted"
        );
    }
    let with_secret = "s3://records?secret_access_key=hunter2&no_such_option=1";
    let refused = BlobStore::s3(with_secret).unwrap_err().to_string();
    assert!(
        refused.contains("no_such_option") && !refused.contains("hunter2"),
        "{refused}"
    );
}
