//! Opens the object store a [`StorageConfig`] describes.

use the0_objstore::{S3Settings, Store};

use crate::config::StorageConfig;

pub fn open(cfg: &StorageConfig) -> Result<Store, the0_objstore::Error> {
    match cfg {
        StorageConfig::Local { root } => Ok(Store::local(root.clone())),
        StorageConfig::S3 { endpoint, access_key, secret_key, use_ssl, region } => Store::s3(S3Settings {
            endpoint: endpoint.clone(),
            access_key: access_key.clone(),
            secret_key: secret_key.clone(),
            use_ssl: *use_ssl,
            region: region.clone(),
        }),
    }
}
