//! Import and export jobs through Azure Storage, against a real Azurite (testsupport/azurite.rs).

#[path = "../../testsupport/azurite.rs"]
mod azurite;

use azurite::Azurite;

/// The launcher itself: service SAS URLs it signs are accepted by Azurite for write and read.
#[tokio::test]
async fn launcher_service_sas_round_trip() {
    let store = Azurite::start().await;
    store.create_container("smoke").await;
    let http = reqwest::Client::new();
    let put = http
        .put(store.blob_sas_url("smoke", "dir/a b.txt"))
        .header("x-ms-blob-type", "BlockBlob")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 201, "{}", put.text().await.unwrap());
    let list = http
        .get(format!(
            "{}&restype=container&comp=list",
            store.container_sas_url("smoke")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(list.status().as_u16(), 200);
    assert!(
        list.text()
            .await
            .unwrap()
            .contains("<Name>dir/a b.txt</Name>")
    );
    assert_eq!(
        store
            .read_blob_string("smoke", "dir/a b.txt")
            .await
            .as_deref(),
        Some("hello")
    );
    assert_eq!(
        store.list_blobs("smoke").await,
        vec!["dir/a b.txt".to_owned()]
    );
    assert_eq!(store.read_blob("smoke", "missing").await, None);
    // a read-only SAS cannot write
    let denied = http
        .put(store.blob_sas_url_with("smoke", "x", "r"))
        .header("x-ms-blob-type", "BlockBlob")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status().as_u16(), 403);
}
