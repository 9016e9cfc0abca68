//! The launch table (docs/contract.md §2.5): which program runs a bot or a query for each `RUNTIME`.
//! Pure: it returns a program and arguments; the supervisor spawns them with cwd `CODE_PATH`.

use std::path::{Path, PathBuf};

use the0_contract::{paths, runtimes};

/// What is being launched: the bot itself, or a query program (ephemeral, child or sidecar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Bot,
    Query,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl Launch {
    fn new(program: impl Into<PathBuf>, args: &[&str]) -> Launch {
        Launch { program: program.into(), args: args.iter().map(|a| a.to_string()).collect() }
    }
}

/// Splits a Scala entrypoint `x.jar:Main` into (`x.jar`, `Main`): the last `:` at an index > 0 that
/// is not followed by `\` (a Windows drive such as `C:\` is not a class separator).
pub fn scala_class_split(entrypoint: &str) -> Option<(&str, &str)> {
    let i = entrypoint.rfind(':')?;
    if i == 0 || entrypoint[i + 1..].starts_with('\\') {
        return None;
    }
    Some((&entrypoint[..i], &entrypoint[i + 1..]))
}

/// The command for `runtime` running `entrypoint` (relative to `code_path`) in `role`.
pub fn command(runtime: &str, entrypoint: &str, code_path: &Path, wrappers_dir: &Path, role: Role) -> Launch {
    match (runtime, role) {
        (runtimes::PYTHON, Role::Bot) => {
            Launch::new("python3", &[&wrappers_dir.join(paths::PYTHON_WRAPPER_FILE).to_string_lossy()])
        }
        (runtimes::PYTHON, Role::Query) => Launch::new("python3", &[entrypoint]),
        (runtimes::NODE, Role::Bot) => {
            Launch::new("node", &[&wrappers_dir.join(paths::NODE_WRAPPER_FILE).to_string_lossy()])
        }
        (runtimes::NODE, Role::Query) => Launch::new("node", &[entrypoint]),
        (runtimes::DOTNET, _) if entrypoint.ends_with(".dll") => Launch::new("dotnet", &[entrypoint]),
        (runtimes::DOTNET, _) => Launch::new("dotnet", &["run", "--project", entrypoint]),
        (runtimes::SCALA, _) => match scala_class_split(entrypoint) {
            Some((jar, class)) => Launch::new("java", &["-cp", jar, class]),
            None => Launch::new("java", &["-jar", entrypoint]),
        },
        (rt, _) if runtimes::COMPILED.contains(&rt) => Launch::new(code_path.join(entrypoint), &[]),
        // Unknown runtime: exec the entrypoint itself (PATH lookup when it has no `/`).
        _ => Launch::new(entrypoint, &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_launch_table() {
        let code = Path::new("/bot");
        let wr = Path::new("/app/wrappers");
        for (runtime, ep, role, program, args) in [
            ("python3.11", "main.py", Role::Bot, "python3", vec!["/app/wrappers/python_bot.py"]),
            ("python3.11", "query.py", Role::Query, "python3", vec!["query.py"]),
            ("nodejs20", "index.js", Role::Bot, "node", vec!["/app/wrappers/node_bot.js"]),
            ("nodejs20", "q.js", Role::Query, "node", vec!["q.js"]),
            ("dotnet8", "bin/Bot.dll", Role::Bot, "dotnet", vec!["bin/Bot.dll"]),
            ("dotnet8", "Bot.csproj", Role::Query, "dotnet", vec!["run", "--project", "Bot.csproj"]),
            ("scala3", "bot.jar:com.x.Main", Role::Bot, "java", vec!["-cp", "bot.jar", "com.x.Main"]),
            ("scala3", "bot.jar", Role::Bot, "java", vec!["-jar", "bot.jar"]),
            ("scala3", ":Main", Role::Bot, "java", vec!["-jar", ":Main"]),
            ("scala3", "C:\\bot.jar", Role::Bot, "java", vec!["-jar", "C:\\bot.jar"]),
            ("rust-stable", "target/release/bot", Role::Bot, "/bot/target/release/bot", vec![]),
            ("gcc13", "bot", Role::Query, "/bot/bot", vec![]),
            ("cpp-gcc13", "build/bot", Role::Bot, "/bot/build/bot", vec![]),
            ("ghc96", "bot", Role::Bot, "/bot/bot", vec![]),
            ("shell", "./run.sh", Role::Bot, "./run.sh", vec![]),
            ("", "mybot", Role::Bot, "mybot", vec![]),
        ] {
            let got = command(runtime, ep, code, wr, role);
            assert_eq!(got.program, PathBuf::from(program), "{runtime} {ep}");
            assert_eq!(got.args, args, "{runtime} {ep}");
        }
    }

    #[test]
    fn scala_split() {
        assert_eq!(scala_class_split("a.jar:Main"), Some(("a.jar", "Main")));
        assert_eq!(scala_class_split("dir:x/a.jar:Main"), Some(("dir:x/a.jar", "Main")));
        assert_eq!(scala_class_split("a.jar"), None);
        assert_eq!(scala_class_split(":Main"), None);
        assert_eq!(scala_class_split("C:\\a.jar"), None);
    }
}
