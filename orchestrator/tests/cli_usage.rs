//! The command line through the built binary, with nothing running: a wrong command line gets one
//! line on stderr with clap's near-miss suggestion and exit status 2 (no usage dump), as does a bad
//! setting; `help COMMAND` and `completions SHELL` print to stdout; a command whose server is not
//! running says so in one line and exits 1.

mod common;

use std::process::{Command, Output};

use common::*;

fn run(args: &[&str]) -> Output {
    let data = tempfile::tempdir().unwrap();
    // Admin and health addresses on which nothing listens.
    orchestrator_cmd(data.path(), &unique("usage"), &free_addr(), &free_addr())
        .args(args)
        .output()
        .expect("run orchestrator")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn a_wrong_command_line_is_one_line_with_the_near_miss() {
    for (args, want) in [
        (&["lsit"][..], "Error: unrecognized subcommand 'lsit' (a similar subcommand exists: 'list')"),
        (
            &["--data-dri", "x"],
            "Error: unexpected argument '--data-dri' found (a similar argument exists: '--data-dir')",
        ),
        (&["list", "--state", "runing"], "(a similar value exists: 'running')"),
        (&["logs"], "Error: the following required arguments were not provided: <ID> (usage: orchestrator logs"),
        (&["completions", "tcsh"], "Error: invalid value 'tcsh' for '<SHELL>'"),
    ] {
        let o = run(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line, no usage dump: {err}");
        assert!(stdout(&o).is_empty(), "{args:?}");
    }
    // A bad setting (flag or variable): one line naming it, exit 2 as well.
    let o = run(&["--reconcile-interval", "soon", "list"]);
    assert_eq!((o.status.code(), stderr(&o).lines().count()), (Some(2), 1), "{}", stderr(&o));
    assert!(stderr(&o).contains("--reconcile-interval"), "{}", stderr(&o));
}

#[test]
fn help_of_each_command_and_completions() {
    for (args, want) in [
        (&["help", "logs"][..], "Usage: orchestrator logs [OPTIONS] [ID]"),
        (&["list", "--help"], "--state <STATE>"),
        (&["--help"], "completions"),
        (&["help"], "bot-runner"),
        (&["completions", "bash"], "complete -F _orchestrator"),
        (&["completions", "zsh"], "#compdef orchestrator"),
        (&["completions", "fish"], "complete -c orchestrator"),
    ] {
        let o = run(args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).contains(want), "{args:?}: {}", stdout(&o));
    }
    // The bash script completes the commands and their flags.
    let bash = stdout(&run(&["completions", "bash"]));
    for word in ["bot-scheduler", "stop-all", "--follow", "--state", "--data-dir"] {
        assert!(bash.contains(word), "bash completion lacks {word}");
    }
    // The script is valid bash.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("orchestrator.bash");
    std::fs::write(&f, &bash).unwrap();
    let ok = Command::new("bash").arg("-n").arg(&f).status().expect("bash");
    assert!(ok.success(), "bash -n refused the completion script");
}

#[test]
fn a_command_without_its_server_says_so_in_one_line() {
    for args in [&["list"][..], &["list", "-o", "json"], &["remove", "b1"]] {
        let o = run(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("cannot reach the orchestrator") && err.contains("orchestrator serve"), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
}
