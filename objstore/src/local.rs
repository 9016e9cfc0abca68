//! Local-directory backend (helper A).
pub struct LocalStore {}
