//! S3-compatible backend (helper A).
pub struct S3Store {}
