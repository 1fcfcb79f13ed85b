//! `library::thumbnails::read_thumbnails` against the simulated phone's AFC server: a good
//! thumbnail is read; one too large, one that is not a JPEG and one that is absent each cost
//! only that thumbnail.

use std::fs;
use std::time::Duration;

use iphone_import::afc::AfcClient;
use iphone_import::library::thumbnails::{read_thumbnails, thumbnail_path};
use iphone_import::library::{Asset, AssetKind, Resource, ResourceRole};
use iphone_import::mock::afcd::{AfcServer, Faults};
use iphone_import::mock::profile::Profile;

fn asset(name: &str) -> Asset {
    Asset {
        uuid: None,
        kind: AssetKind::Photo,
        resources: vec![Resource {
            role: ResourceRole::Original,
            device_path: format!("DCIM/100APPLE/{name}"),
            size: None,
            mtime_ns: None,
            birth_ns: None,
        }],
        created: None,
        hidden: false,
        trashed: false,
        trashed_at: None,
        icloud_only: false,
        original_missing: false,
        only_copy_on_phone: true,
        favorite: false,
        albums: Vec::new(),
        meta: Default::default(),
    }
}

#[tokio::test]
async fn bad_thumbnails_cost_only_themselves() {
    let tmp = tempfile::tempdir().unwrap();
    let jpeg = [
        0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0xFF, 0xD9,
    ]
    .to_vec();
    let mut big = jpeg.clone();
    big.resize(10_000, 0);
    let files: [(&str, &[u8]); 3] = [
        ("IMG_0001.HEIC", &jpeg),
        ("IMG_0002.HEIC", &big),
        ("IMG_0003.HEIC", b"<svg onload=alert(1)>"),
    ];
    for (name, bytes) in files {
        let path = tmp
            .path()
            .join(thumbnail_path(&format!("DCIM/100APPLE/{name}")));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }
    let server = AfcServer::new(tmp.path().to_path_buf(), Profile::none(), Faults::none()).unwrap();
    let afc = AfcClient::new(server.connect_in_process());
    let assets: Vec<Asset> = [
        "IMG_0001.HEIC",
        "IMG_0002.HEIC",
        "IMG_0003.HEIC",
        "IMG_0004.HEIC",
    ]
    .into_iter()
    .map(asset)
    .collect();
    let refs: Vec<&Asset> = assets.iter().collect();
    let got = tokio::time::timeout(Duration::from_secs(120), read_thumbnails(&afc, &refs, 4096))
        .await
        .expect("thumbnail reads hung");
    assert_eq!(got, vec![Some(jpeg), None, None, None]);
}
