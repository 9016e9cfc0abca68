//! Bot state: fingerprint, archive, restore and upload of `STATE_PATH` (helper B).
