//! Bot code: download the zip object and extract it safely into `CODE_PATH` (helper B).
