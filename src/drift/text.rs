//! Reading catalog text the way pg-boss 12.38's drift check reads it: the parts of a
//! `pg_get_indexdef` statement (key list, INCLUDE list, predicate), a function's dollar-quoted
//! body, and the normalised forms two equal definitions share (casts, quotes, case, whitespace
//! and redundant outer parentheses removed). The readable forms are what the report shows; the
//! normalised ones are only compared.

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_lowercase() || b == b'_'
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'$'
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The end of a cast `::[schema.]type[[]]` starting at `i` (lower-case names only, as Postgres
/// renders them), or None when `i` does not start one.
fn cast_end(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i..i + 2) != Some(b"::") || !b.get(i + 2).copied().is_some_and(is_ident_start) {
        return None;
    }
    let ident_end = |mut j: usize| {
        while b.get(j).copied().is_some_and(is_ident_char) {
            j += 1;
        }
        j
    };
    let mut end = ident_end(i + 3);
    if b.get(end) == Some(&b'.') && b.get(end + 1).copied().is_some_and(is_ident_start) {
        end = ident_end(end + 2);
    }
    if b.get(end..end + 2) == Some(b"[]") {
        end += 2;
    }
    Some(end)
}

/// `s` without its type casts (`'active'::pgboss.job_state` reads `'active'`).
pub fn strip_casts(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match cast_end(b, i) {
            Some(end) => i = end,
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    // only ASCII ranges were removed, so the rest is still UTF-8
    String::from_utf8(out).unwrap_or_default()
}

/// Runs of whitespace as one space, ends trimmed.
fn tidy(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn without_ws(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The byte index of the parenthesis closing the one opened at `open`.
fn closing_paren(s: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The first balanced parenthesised group: an index's key-column list, and its span.
fn key_list_span(ddl: &str) -> Option<(usize, usize)> {
    let open = ddl.find('(')?;
    closing_paren(ddl, open).map(|close| (open, close))
}

fn normalize_key_list(list: &str) -> String {
    strip_casts(&without_ws(&list.to_lowercase().replace('"', "")))
}

/// The readable key-column list ('' when there is none).
pub fn index_keys_raw(ddl: &str) -> String {
    key_list_span(ddl)
        .map(|(open, close)| tidy(&strip_casts(&ddl[open + 1..close])))
        .unwrap_or_default()
}

/// The INCLUDE payload list, which sits right after the key list.
fn include_list(ddl: &str) -> Option<&str> {
    let (_, close) = key_list_span(ddl)?;
    let tail = &ddl[close + 1..];
    let rest = tail.trim_start();
    if rest.len() < 7 || !rest[..7].eq_ignore_ascii_case("include") {
        return None;
    }
    let after = rest[7..].trim_start();
    if !after.starts_with('(') {
        return None;
    }
    let open = ddl.len() - after.len();
    closing_paren(ddl, open).map(|end| &ddl[open + 1..end])
}

/// INCLUDE columns are payload, not ordering: compared as a sorted set.
fn normalize_include_list(list: &str) -> String {
    let mut cols: Vec<String> = normalize_key_list(list)
        .split(',')
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    cols.sort();
    cols.join(",")
}

/// The readable INCLUDE list ('' for an index without one).
pub fn index_include_raw(ddl: &str) -> String {
    include_list(ddl)
        .map(|l| tidy(&strip_casts(l)))
        .unwrap_or_default()
}

/// The byte index just past the first whole word `WHERE`, any case.
fn after_where(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    (0..b.len().saturating_sub(4)).find_map(|i| {
        let word = b[i..i + 5].eq_ignore_ascii_case(b"where")
            && (i == 0 || !is_word(b[i - 1]))
            && !b.get(i + 5).copied().is_some_and(is_word);
        word.then_some(i + 5)
    })
}

fn predicate_of(ddl: &str) -> &str {
    after_where(ddl).map(|i| &ddl[i..]).unwrap_or("")
}

/// Whether one pair of parentheses wraps the whole of `s`.
fn outer_parens_wrap_whole(s: &str) -> bool {
    s.starts_with('(') && closing_paren(s, 0) == Some(s.len() - 1)
}

/// `s` without the redundant outer parentheses Postgres wraps a whole predicate in; inner
/// grouping, which can carry meaning, is kept.
pub fn strip_outer_parens(s: &str) -> String {
    let mut out = s.trim();
    while outer_parens_wrap_whole(out) {
        out = out[1..out.len() - 1].trim();
    }
    out.to_string()
}

/// `= ANY (ARRAY[a, b])` (how Postgres renders `IN (a, b)`) folded back to `in (a, b)`, in
/// lower-cased text.
fn fold_any_array(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(eq) = rest.find('=') {
        out.push_str(&rest[..eq]);
        let after = &rest[eq + 1..];
        let items = (|| {
            let r = after.trim_start().strip_prefix("any")?;
            let r = r.trim_start().strip_prefix('(')?;
            let r = r.trim_start().strip_prefix("array")?;
            let r = r.trim_start().strip_prefix('[')?;
            let close = r.find(']')?;
            let tail = r[close + 1..].trim_start().strip_prefix(')')?;
            Some((&r[..close], tail))
        })();
        match items {
            Some((list, tail)) => {
                out.push_str("in (");
                out.push_str(list);
                out.push(')');
                rest = tail;
            }
            None => {
                out.push('=');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn normalize_predicate(predicate: &str) -> String {
    let folded = fold_any_array(&strip_casts(&predicate.to_lowercase().replace('"', "")));
    without_ws(&strip_outer_parens(&folded))
}

/// The readable partial-index predicate ('' for a non-partial index).
pub fn index_predicate_raw(ddl: &str) -> String {
    strip_outer_parens(&tidy(&strip_casts(predicate_of(ddl))))
}

/// `def` without its first ` USING btree ` (any whitespace around the words).
fn drop_using_btree(def: &str) -> String {
    let lower = def.to_ascii_lowercase();
    for (i, _) in lower.match_indices("using") {
        let before = lower[..i].trim_end();
        let after = &lower[i + 5..];
        let rest = after.trim_start();
        let Some(tail) = rest.strip_prefix("btree") else {
            continue;
        };
        let next = tail.trim_start();
        if before.len() < i && rest.len() < after.len() && next.len() < tail.len() {
            return format!(
                "{} {}",
                &def[..before.len()],
                &def[def.len() - next.len()..]
            );
        }
    }
    def.to_string()
}

/// A `pg_get_indexdef` statement for display: no `USING btree` (every pg-boss index is btree),
/// no casts, whitespace collapsed, no outer parentheses around the predicate.
pub fn display_index_definition(def: &str) -> String {
    let cleaned = tidy(&strip_casts(&drop_using_btree(def)));
    match after_where(&cleaned) {
        None => cleaned,
        Some(i) => format!("{} {}", &cleaned[..i], strip_outer_parens(&cleaned[i..])),
    }
}

/// Which parts of a live index differ from the expected one: any of keys, include, predicate.
pub fn index_differences(
    expected_keys: &str,
    expected_include: &str,
    expected_predicate: &str,
    actual_keys: &str,
    actual_include: &str,
    actual_predicate: &str,
) -> Vec<&'static str> {
    let mut differs = Vec::new();
    if normalize_key_list(expected_keys) != normalize_key_list(actual_keys) {
        differs.push("keys");
    }
    if normalize_include_list(expected_include) != normalize_include_list(actual_include) {
        differs.push("include");
    }
    if normalize_predicate(expected_predicate) != normalize_predicate(actual_predicate) {
        differs.push("predicate");
    }
    differs
}

/// Whether a readable key list parses to something comparable.
pub fn keys_parse(keys: &str) -> bool {
    !normalize_key_list(keys).is_empty()
}

/// The policy a partial index is gated on (`... AND policy = 'short'`), if any.
pub fn predicate_policy(ddl: &str) -> Option<String> {
    let p = normalize_predicate(predicate_of(ddl));
    let at = p.find("policy='")? + "policy='".len();
    let len = p[at..].find('\'')?;
    Some(p[at..at + len].to_string())
}

/// The body between a definition's outer dollar quotes ('' when there is none).
pub fn function_body(def: &str) -> &str {
    let b = def.as_bytes();
    for (i, _) in def.match_indices('$') {
        let mut j = i + 1;
        while b
            .get(j)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            j += 1;
        }
        if b.get(j) == Some(&b'$') {
            let tag = &def[i..=j];
            return def[j + 1..]
                .find(tag)
                .map(|end| &def[j + 1..j + 1 + end])
                .unwrap_or("");
        }
    }
    ""
}

/// A function body compared token by token: whitespace collapsed, ends trimmed, case kept.
pub fn normalize_function_body(body: &str) -> String {
    tidy(body)
}

/// A whole definition as the report shows it: whitespace collapsed, ends trimmed.
pub fn one_line(def: &str) -> String {
    tidy(def)
}

/// A column default compared: lower case, no casts, whitespace collapsed, no outer parentheses.
pub fn normalize_default(expr: &str) -> String {
    strip_outer_parens(&tidy(&strip_casts(&expr.to_lowercase())))
}

/// A `pg_get_constraintdef` compared: lower case, no quotes or casts, whitespace collapsed.
pub fn normalize_constraint(def: &str) -> String {
    tidy(&strip_casts(&def.to_lowercase().replace('"', "")))
}

/// The index a `CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS] name` command builds.
pub fn command_index_name(command: &str) -> Option<String> {
    fn word<'a>(s: &'a str, w: &str) -> Option<&'a str> {
        let head = s.get(..w.len())?;
        head.eq_ignore_ascii_case(w).then(|| &s[w.len()..])
    }
    fn gap(s: &str) -> Option<&str> {
        let t = s.trim_start();
        (t.len() < s.len()).then_some(t)
    }
    let parse = |s: &str| -> Option<String> {
        let mut r = gap(word(s, "create")?)?;
        if let Some(after) = word(r, "unique").and_then(gap) {
            r = after;
        }
        r = gap(word(r, "index")?)?;
        if let Some(after) = word(r, "concurrently").and_then(gap) {
            r = after;
        }
        if let Some(after) = word(r, "if")
            .and_then(gap)
            .and_then(|r| word(r, "not"))
            .and_then(gap)
            .and_then(|r| word(r, "exists"))
            .and_then(gap)
        {
            r = after;
        }
        let r = r.strip_prefix('"').unwrap_or(r);
        let len = r
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'$')
            .count();
        (len > 0).then(|| r[..len].to_string())
    };
    command
        .char_indices()
        .filter(|(_, c)| c.eq_ignore_ascii_case(&'c'))
        .find_map(|(i, _)| parse(&command[i..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const I1: &str = "CREATE UNIQUE INDEX job_common_i1 ON pgboss.job_common USING btree (name, COALESCE(singleton_key, ''::text)) WHERE ((state = 'created'::pgboss.job_state) AND (policy = 'short'::text))";
    const I10: &str = "CREATE INDEX job_common_i10 ON pgboss.job_common USING btree (name, singleton_key, state DESC, created_on, id) INCLUDE (start_after) WHERE ((state < 'active'::pgboss.job_state) AND (NOT blocked) AND (policy = 'key_strict_fifo'::text))";

    #[test]
    fn casts_are_stripped_with_their_schema_and_array_marks() {
        assert_eq!(
            strip_casts("'a'::pgboss.job_state, '{}'::integer[], x::text"),
            "'a', '{}', x"
        );
        assert_eq!(strip_casts("a::Upper"), "a::Upper");
        assert_eq!(strip_casts("now():::timestamptz"), "now():");
    }

    #[test]
    fn an_index_definition_splits_into_keys_include_and_predicate() {
        assert_eq!(index_keys_raw(I1), "name, COALESCE(singleton_key, '')");
        assert_eq!(index_include_raw(I1), "");
        assert_eq!(
            index_predicate_raw(I1),
            "(state = 'created') AND (policy = 'short')"
        );
        assert_eq!(
            index_keys_raw(I10),
            "name, singleton_key, state DESC, created_on, id"
        );
        assert_eq!(index_include_raw(I10), "start_after");
        assert_eq!(index_keys_raw("no parens"), "");
        assert_eq!(index_keys_raw("CREATE INDEX x ON t (a, (b)"), "");
    }

    #[test]
    fn display_drops_using_btree_casts_and_outer_predicate_parens() {
        assert_eq!(
            display_index_definition(I1),
            "CREATE UNIQUE INDEX job_common_i1 ON pgboss.job_common (name, COALESCE(singleton_key, '')) WHERE (state = 'created') AND (policy = 'short')"
        );
        assert_eq!(
            display_index_definition("CREATE INDEX w ON s.warning USING btree (created_on DESC)"),
            "CREATE INDEX w ON s.warning (created_on DESC)"
        );
    }

    #[test]
    fn key_order_is_significant_and_include_order_is_not() {
        assert_eq!(
            index_differences("name, id", "", "", "id, name", "", ""),
            ["keys"]
        );
        assert!(index_differences("a", "x, y", "", "a", "y,x", "").is_empty());
        assert_eq!(index_differences("a", "x", "", "a", "", ""), ["include"]);
    }

    #[test]
    fn predicates_compare_modulo_casts_outer_parens_and_in_lists() {
        let same = |a: &str, b: &str| normalize_predicate(a) == normalize_predicate(b);
        assert!(same(
            "((state = 'created'::pgboss.job_state) AND (NOT blocked))",
            "(state = 'created') AND (NOT blocked)"
        ));
        assert!(same(
            "state = ANY (ARRAY['active'::pgboss.job_state, 'retry'::pgboss.job_state])",
            "state IN ('active', 'retry')"
        ));
        assert!(!same("(a OR b) AND c", "a OR (b AND c)"));
        assert!(!same("state = 'active'", "state = 'completed'"));
    }

    #[test]
    fn the_gating_policy_is_read_from_the_predicate() {
        assert_eq!(predicate_policy(I1).as_deref(), Some("short"));
        assert_eq!(predicate_policy(I10).as_deref(), Some("key_strict_fifo"));
        assert_eq!(
            predicate_policy("CREATE INDEX a ON t (name) WHERE (NOT blocked)"),
            None
        );
    }

    #[test]
    fn a_function_body_sits_between_its_outer_dollar_quotes() {
        assert_eq!(function_body("AS $$ SELECT 1 $$"), " SELECT 1 ");
        assert_eq!(
            function_body("AS $function$ x $cmd$y$cmd$ $function$"),
            " x $cmd$y$cmd$ "
        );
        assert_eq!(function_body("AS $function$ never closed"), "");
        assert_eq!(function_body("no body"), "");
        assert_eq!(normalize_function_body("\n  SELECT\t 1;\n"), "SELECT 1;");
    }

    #[test]
    fn defaults_and_constraints_normalise() {
        assert_eq!(normalize_default("('pending'::text)"), "'pending'");
        assert_eq!(normalize_default("'{}'::integer[]"), "'{}'");
        assert_eq!(
            normalize_constraint("CHECK ((\"Name\" <> ''::text))"),
            "check ((name <> ''))"
        );
    }

    #[test]
    fn the_index_a_build_command_names() {
        for (cmd, name) in [
            (
                "CREATE INDEX CONCURRENTLY job_common_i5 ON s.t (a)",
                "job_common_i5",
            ),
            (
                "create unique index if not exists \"j_i1\" on s.t (a)",
                "j_i1",
            ),
            ("CREATE INDEX if ON t (a)", "if"),
        ] {
            assert_eq!(command_index_name(cmd).as_deref(), Some(name));
        }
        assert_eq!(command_index_name("DROP INDEX x"), None);
    }
}
