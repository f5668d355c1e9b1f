//! The password file (`PGPASSFILE`, else `~/.pgpass`), read as node-postgres's `pgpass` reads it
//! when no password is given: `host:port:database:user:password` lines, `*` matching anything,
//! `\` escaping `:` and `\`. A file others can read is ignored, as libpq does.

use std::path::PathBuf;

fn file() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PGPASSFILE") {
        return Some(PathBuf::from(path));
    }
    if cfg!(windows) {
        let appdata = std::env::var_os("APPDATA").unwrap_or_else(|| "./".into());
        return Some(
            PathBuf::from(appdata)
                .join("postgresql")
                .join("pgpass.conf"),
        );
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "./".into());
    Some(PathBuf::from(home).join(".pgpass"))
}

#[cfg(unix)]
fn private_enough(path: &PathBuf) -> bool {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => {
            if meta.mode() & 0o077 != 0 {
                eprintln!(
                    "WARNING: password file \"{}\" has group or world access; permissions should be u=rw (0600) or less",
                    path.display()
                );
                return false;
            }
            true
        }
        _ => false,
    }
}

#[cfg(not(unix))]
fn private_enough(path: &PathBuf) -> bool {
    path.is_file()
}

/// The fields of one line, unescaped; `None` for comments, short or malformed lines.
fn fields(line: &str) -> Option<Vec<String>> {
    if line.len() < 11 || line.trim_start().starts_with('#') {
        return None;
    }
    let mut out = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    out.last_mut()?.push(next);
                }
            }
            ':' if out.len() < 5 => out.push(String::new()),
            c => out.last_mut()?.push(c),
        }
    }
    (out.len() == 5 && !out[4].is_empty()).then_some(out)
}

fn matches(entry: &[String], host: &str, port: u16, database: &str, user: &str) -> bool {
    let field = |i: usize, value: &str| entry[i] == "*" || entry[i] == value;
    field(0, host)
        && (entry[1] == "*" || entry[1].parse::<u32>().ok() == Some(u32::from(port)))
        && field(2, database)
        && field(3, user)
}

/// The password file's password for this connection, if it has one.
pub fn lookup(host: &str, port: u16, database: &str, user: &str) -> Option<String> {
    if std::env::var_os("PGPASSWORD").is_some() {
        return None;
    }
    let path = file()?;
    if !path.exists() || !private_enough(&path) {
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    text.lines()
        .filter_map(fields)
        .find(|entry| matches(entry, host, port, database, user))
        .map(|mut entry| entry.swap_remove(4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_unescape_and_match_wildcards() {
        let entry = fields(r"db.example.com:*:app:ann:pa\:ss\\word").unwrap();
        assert_eq!(entry, ["db.example.com", "*", "app", "ann", r"pa:ss\word"]);
        assert!(matches(&entry, "db.example.com", 6543, "app", "ann"));
        assert!(!matches(&entry, "db.example.com", 6543, "app", "bob"));
        let entry = fields("localhost:5432:*:*:secret").unwrap();
        assert!(matches(&entry, "localhost", 5432, "anything", "anyone"));
        assert!(!matches(&entry, "localhost", 5433, "anything", "anyone"));
        assert!(fields("# host:5432:db:user:pw").is_none());
        assert!(fields("short").is_none());
    }
}
