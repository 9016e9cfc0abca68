//! Table tests of the runtime → image mapping and its variable names.

use super::*;
use std::collections::HashMap;

#[test]
fn variable_names_of_every_runtime() {
    let names: Vec<String> = runtimes::ALL.iter().map(|r| env_var(r)).collect();
    assert_eq!(
        names,
        [
            "RUNTIME_IMAGE_PYTHON3_11",
            "RUNTIME_IMAGE_NODEJS20",
            "RUNTIME_IMAGE_RUST_STABLE",
            "RUNTIME_IMAGE_DOTNET8",
            "RUNTIME_IMAGE_GCC13",
            "RUNTIME_IMAGE_CPP_GCC13",
            "RUNTIME_IMAGE_SCALA3",
            "RUNTIME_IMAGE_GHC96",
        ]
    );
}

fn resolve(flag: Option<&str>, fors: &[&str], vars: &[(&str, &str)]) -> Result<RuntimeImages, String> {
    let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let fors: Vec<String> = fors.iter().map(|s| s.to_string()).collect();
    RuntimeImages::resolve(flag, &fors, |k| vars.get(k).map(String::as_str).filter(|v| !v.is_empty()))
        .map_err(|e| e.to_string())
}

/// (general flag, `--runtime-image-for` flags, environment, runtime, expected image)
type Case<'a> = (Option<&'a str>, &'a [&'a str], &'a [(&'a str, &'a str)], &'a str, &'a str);

#[test]
fn which_image_each_runtime_gets() {
    let cases: &[Case<'_>] = &[
        (None, &[], &[], "python3.11", DEFAULT_IMAGE),
        (None, &[], &[("RUNTIME_IMAGE", "u:1")], "python3.11", "u:1"),
        (Some("f:1"), &[], &[("RUNTIME_IMAGE", "u:1")], "python3.11", "f:1"),
        (None, &[], &[("RUNTIME_IMAGE", "u:1"), ("RUNTIME_IMAGE_PYTHON3_11", "py:1")], "python3.11", "py:1"),
        (None, &[], &[("RUNTIME_IMAGE", "u:1"), ("RUNTIME_IMAGE_PYTHON3_11", "py:1")], "nodejs20", "u:1"),
        // The specific image beats the general one even when the general one is a flag.
        (Some("f:1"), &[], &[("RUNTIME_IMAGE_NODEJS20", "node:1")], "nodejs20", "node:1"),
        // The flag beats the variable of the same runtime.
        (None, &["nodejs20=flag:1"], &[("RUNTIME_IMAGE_NODEJS20", "env:1")], "nodejs20", "flag:1"),
        (None, &["cpp-gcc13=native:1"], &[], "cpp-gcc13", "native:1"),
        (None, &["cpp-gcc13=native:1"], &[], "gcc13", DEFAULT_IMAGE),
        (None, &[], &[("RUNTIME_IMAGE_CPP_GCC13", "native:2")], "cpp-gcc13", "native:2"),
        (None, &[], &[("RUNTIME_IMAGE_RUST_STABLE", "native:3")], "rust-stable", "native:3"),
        (None, &[], &[("RUNTIME_IMAGE_SCALA3", "jvm:1")], "scala3", "jvm:1"),
        (None, &[], &[("RUNTIME_IMAGE_DOTNET8", "dn:1")], "dotnet8", "dn:1"),
        (None, &[], &[("RUNTIME_IMAGE_GHC96", "native:4")], "ghc96", "native:4"),
        // An empty variable is unset; the pull policy variable is not a runtime's image.
        (None, &[], &[("RUNTIME_IMAGE_PYTHON3_11", "")], "python3.11", DEFAULT_IMAGE),
        (None, &[], &[("RUNTIME_IMAGE_PULL_POLICY", "Never")], "python3.11", DEFAULT_IMAGE),
        // A runtime the0 does not know gets the general image (validation rejects it anyway).
        (None, &[], &[("RUNTIME_IMAGE", "u:1")], "cobol", "u:1"),
    ];
    for (flag, fors, vars, rt, want) in cases {
        let got = resolve(*flag, fors, vars).unwrap();
        assert_eq!(got.for_runtime(rt), *want, "{flag:?} {fors:?} {vars:?} {rt}");
    }
}

#[test]
fn pull_policy_and_unknown_suffixes_are_not_mapped() {
    let got = resolve(None, &[], &[("RUNTIME_IMAGE_PULL_POLICY", "Never"), ("RUNTIME_IMAGE_COBOL", "c:1")]).unwrap();
    assert_eq!(got, RuntimeImages::default());
}

#[test]
fn bad_flags_name_what_is_wrong() {
    for (fors, err) in [
        (&["python3.11"][..], "expected RUNTIME=IMAGE"),
        (&["python3=img"][..], "unknown runtime \"python3\""),
        (&["python3.11="][..], "empty image name"),
        (&["gcc13=a", "gcc13=b"][..], "\"gcc13\" given twice"),
    ] {
        let e = resolve(None, fors, &[]).unwrap_err();
        assert!(e.contains(err), "{fors:?}: {e}");
        assert!(e.contains("--runtime-image-for"), "{fors:?}: {e}");
    }
    assert!(resolve(Some(" "), &[], &[]).unwrap_err().contains("--runtime-image: empty"));
}
