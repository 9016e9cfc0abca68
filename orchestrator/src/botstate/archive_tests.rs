use super::*;

/// One entry of a test archive.
enum E<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Link(&'a str, &'a str),
    /// A file whose name is carried by a PAX `path` record (the ustar name is a placeholder).
    PaxFile(&'a str, &'a [u8]),
}

fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(1_700_000_000);
    h
}

fn build(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        match e {
            E::File(name, data) => {
                let mut h = header(tar::EntryType::Regular, data.len() as u64, 0o640);
                b.append_data(&mut h, name, *data).unwrap();
            }
            E::Dir(name) => {
                let mut h = header(tar::EntryType::Directory, 0, 0o755);
                b.append_data(&mut h, name, std::io::empty()).unwrap();
            }
            E::Link(name, target) => {
                let mut h = header(tar::EntryType::Symlink, 0, 0o777);
                b.append_link(&mut h, name, target).unwrap();
            }
            E::PaxFile(name, data) => {
                b.append_pax_extensions([("path", name.as_bytes())]).unwrap();
                let mut h = header(tar::EntryType::Regular, data.len() as u64, 0o600);
                b.append_data(&mut h, "placeholder", *data).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// (name, mode, mtime, data) of every entry, as an extractor would see them.
fn listing(tar: &[u8]) -> Vec<(String, u32, u64, Vec<u8>)> {
    let mut a = tar::Archive::new(tar);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let (mode, mtime) = (e.header().mode().unwrap(), e.header().mtime().unwrap());
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            (name, mode, mtime, data)
        })
        .collect()
}

fn sample() -> Vec<u8> {
    build(&[
        E::Dir(".the0-state"),
        E::File(".the0-state/portfolio.json", br#"{"AAPL":100}"#),
        E::File("./.the0-state/count.json", b"42"),
        E::File(".the0-state/notes.txt", b"not a key"),
        E::File(".the0-state/sub/deep.json", b"{}"),
        E::Link(".the0-state/link.json", "/etc/passwd"),
        E::File("model.bin", b"\x00\x01\x02"),
    ])
}

#[test]
fn keys_are_the_json_files_directly_in_the_keys_directory() {
    let got = keys(&sample()).unwrap();
    assert_eq!(
        got,
        vec![Key { key: "portfolio".into(), size: 12 }, Key { key: "count".into(), size: 2 }],
        "no .txt, no subdirectory, no link, no file outside .the0-state"
    );
    assert_eq!(keys(&build(&[])).unwrap(), vec![]);
}

#[test]
fn a_key_named_by_a_pax_record_is_read_like_any_other() {
    let long = format!(".the0-state/{}.json", "k".repeat(120));
    let tar = build(&[E::PaxFile(&long, b"[1,2]"), E::File("after.txt", b"x")]);
    let got = keys(&tar).unwrap();
    assert_eq!(got, vec![Key { key: "k".repeat(120), size: 5 }]);
    assert_eq!(value(&tar, &"k".repeat(120)).unwrap().as_deref(), Some(&b"[1,2]"[..]));
}

#[test]
fn a_key_stored_twice_reads_as_the_last_entry() {
    let tar = build(&[E::File(".the0-state/a.json", b"1"), E::File(".the0-state/a.json", b"22")]);
    assert_eq!(keys(&tar).unwrap(), vec![Key { key: "a".into(), size: 2 }]);
    assert_eq!(value(&tar, "a").unwrap().as_deref(), Some(&b"22"[..]));
    assert_eq!(remove(&tar, "a").unwrap(), Removed::Empty, "both copies go");
}

#[test]
fn values_by_key() {
    let tar = sample();
    for (key, want) in [
        ("portfolio", Some(&br#"{"AAPL":100}"#[..])),
        ("count", Some(&b"42"[..])),
        ("missing", None),
        ("notes", None),
        ("link", None),
    ] {
        assert_eq!(value(&tar, key).unwrap().as_deref(), want, "{key}");
    }
}

#[test]
fn bad_keys_are_refused_by_name() {
    for key in ["", "a/b", "a\\b", "..", "x..y", "nul\0"] {
        let want = ArchiveError::BadKey(key.into());
        assert_eq!(value(&sample(), key).unwrap_err(), want, "{key:?}");
        assert_eq!(remove(&sample(), key).unwrap_err(), want, "{key:?}");
        assert!(want.to_string().contains("not valid"), "{want}");
    }
    for key in ["a", "my-key_1", "with space", "ünï"] {
        assert_eq!(check_key(key), Ok(()), "{key:?}");
    }
}

#[test]
fn removing_a_key_keeps_every_other_entry_byte_for_byte() {
    let tar = sample();
    let Removed::Rest(rest) = remove(&tar, "portfolio").unwrap() else { panic!("files remain") };
    let mut want = listing(&tar);
    want.retain(|(n, ..)| n != ".the0-state/portfolio.json");
    assert_eq!(listing(&rest), want, "names, modes, mtimes and data of the rest are unchanged");
    assert_eq!(keys(&rest).unwrap(), vec![Key { key: "count".into(), size: 2 }]);
    assert_eq!(rest.len(), tar.len() - 1024, "one header block and one data block less");
    assert_eq!(remove(&rest, "portfolio").unwrap(), Removed::Absent);
}

#[test]
fn removing_a_pax_named_key_takes_its_pax_record_with_it() {
    let long = format!(".the0-state/{}.json", "k".repeat(120));
    let tar = build(&[E::PaxFile(&long, b"1"), E::File("after.txt", b"x"), E::PaxFile("keep/long-name.txt", b"y")]);
    let Removed::Rest(rest) = remove(&tar, &"k".repeat(120)).unwrap() else { panic!("files remain") };
    let names: Vec<String> = listing(&rest).into_iter().map(|(n, ..)| n).collect();
    assert_eq!(names, ["after.txt", "keep/long-name.txt"], "the next entry keeps its own name");
}

#[test]
fn removing_the_last_file_empties_the_state() {
    let tar = build(&[E::Dir(".the0-state"), E::File(".the0-state/only.json", b"{}")]);
    assert_eq!(remove(&tar, "only").unwrap(), Removed::Empty);
    let with_link = build(&[E::File(".the0-state/only.json", b"{}"), E::Link("l", "x")]);
    assert_eq!(remove(&with_link, "only").unwrap(), Removed::Empty, "a link is not restored, so it is not state");
}

#[test]
fn gzip_round_trips_and_several_members_read_as_one_stream() {
    let tar = sample();
    assert_eq!(gunzip(&gzip(&tar)).unwrap(), tar);
    let (a, b) = tar.split_at(1536);
    let mut two = gzip(a);
    two.extend(gzip(b));
    assert_eq!(gunzip(&two).unwrap(), tar, "the executor writes one member per segment");
}

#[test]
fn bad_or_oversized_archives_are_refused() {
    assert!(matches!(gunzip(b"not gzip"), Err(ArchiveError::Corrupt(_))));
    let big = gzip(&vec![0u8; 4096]);
    assert_eq!(unpack(&big, 4095), Err(ArchiveError::TooLarge));
    assert_eq!(unpack(&big, 4096).map(|v| v.len()), Ok(4096));
    let mut cut = sample();
    cut.truncate(700);
    assert!(matches!(keys(&cut), Err(ArchiveError::Corrupt(_))), "an entry cut short is named as corrupt");
}
