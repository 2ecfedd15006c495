//! The repository stands on its own: every relative link in its Markdown files points at a file
//! (and, for a `#fragment` into Markdown, a heading) that the repository has, and no Markdown,
//! Rust or TOML file refers to design notes kept outside the repository.
//!
//! Standard library only, so it runs without a build of the workspace:
//! `CARGO_MANIFEST_DIR=$PWD rustc --edition 2024 --test tests/docs_links.rs -o /tmp/docs_links`.

use std::{
    collections::BTreeSet,
    fs,
    path::{Component, Path, PathBuf},
};

/// Names of documents that live outside the repository. Spelled in pieces so that this file does
/// not match its own check.
const OUTSIDE_DOCUMENTS: [&str; 4] = [
    concat!("SPEC", ".md"),
    concat!("DESIGN", ".md"),
    concat!("notes/", "commonware.md"),
    concat!("../", "shared"),
];

/// Directories that are not part of the repository's content.
const SKIPPED_DIRS: [&str; 2] = [".git", "target"];

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir` whose extension is one of `extensions`, skipping build output and git.
fn files_with_extension(dir: &Path, extensions: &[&str], found: &mut Vec<PathBuf>) {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        let path = entry.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        // Symbolic links are not followed: a link to a directory could loop.
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            if !SKIPPED_DIRS.contains(&name) {
                files_with_extension(&path, extensions, found);
            }
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| extensions.contains(&e))
        {
            found.push(path);
        }
    }
}

fn read(path: &Path) -> String {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The lines of `markdown` outside fenced code blocks.
fn unfenced_lines(markdown: &str) -> Vec<&str> {
    let mut fence: Option<(char, usize)> = None;
    let mut lines = Vec::new();
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = marker.map_or(0, |m| trimmed.chars().take_while(|c| *c == m).count());
        match (fence, marker) {
            (None, Some(m)) if run >= 3 => fence = Some((m, run)),
            (Some((open, len)), Some(m)) if m == open && run >= len => fence = None,
            (None, _) => lines.push(line),
            (Some(_), _) => {}
        }
    }
    lines
}

/// `line` with every `` `code` `` span (any number of backticks) removed.
fn without_code_spans(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|c| **c == '`').count();
        match closing_run(&chars, i + run, run) {
            Some(end) => i = end + run,
            None => {
                // An unmatched run is literal text.
                out.extend(&chars[i..i + run]);
                i += run;
            }
        }
    }
    out
}

/// Start of the next run of exactly `run` backticks at or after `from`.
fn closing_run(chars: &[char], from: usize, run: usize) -> Option<usize> {
    let mut j = from;
    while j < chars.len() {
        if chars[j] == '`' {
            let len = chars[j..].iter().take_while(|c| **c == '`').count();
            if len == run {
                return Some(j);
            }
            j += len;
        } else {
            j += 1;
        }
    }
    None
}

/// Link destinations in `markdown`: inline links and images `[text](dest "title")` and
/// reference definitions `[label]: dest`, outside code (links shown as code are examples).
fn link_targets(markdown: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in unfenced_lines(markdown).into_iter().map(without_code_spans) {
        if let Some(dest) = reference_definition(&line) {
            targets.push(dest);
            continue;
        }
        let mut rest = line.as_str();
        while let Some(start) = rest.find("](") {
            rest = &rest[start + 2..];
            if let Some((dest, after)) = inline_destination(rest) {
                targets.push(dest);
                rest = after;
            }
        }
    }
    targets
}

/// The destination of `[label]: dest` (indented at most three spaces).
fn reference_definition(line: &str) -> Option<String> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let rest = line[indent..].strip_prefix('[').filter(|_| indent <= 3)?;
    let (label, after) = rest.split_once("]:")?;
    if label.is_empty() || label.contains(']') {
        return None;
    }
    let dest = after.split_whitespace().next()?;
    Some(
        dest.trim_start_matches('<')
            .trim_end_matches('>')
            .to_string(),
    )
}

/// Parses the destination that follows `](`, up to its closing parenthesis (nested pairs
/// allowed); returns it without a title, and the text after the link.
fn inline_destination(text: &str) -> Option<(String, &str)> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => {
                let inside = text[..i].trim();
                let dest = inside.split_whitespace().next().unwrap_or_default();
                let dest = dest.trim_start_matches('<').trim_end_matches('>');
                return Some((dest.to_string(), &text[i + 1..]));
            }
            ')' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Whether `target` names a URL scheme (`https:`, `mailto:` …) rather than a repository path.
fn is_external(target: &str) -> bool {
    let scheme: String = target
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        .collect();
    !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && target[scheme.len()..].starts_with(':')
}

/// The anchors a Markdown renderer gives `markdown`'s headings: lower case, spaces to hyphens,
/// punctuation dropped, and `-1`, `-2` … appended to repeats.
fn heading_anchors(markdown: &str) -> BTreeSet<String> {
    let mut anchors = BTreeSet::new();
    for line in unfenced_lines(markdown) {
        let hashes = line.chars().take_while(|c| *c == '#').count();
        let Some(text) = line[hashes..]
            .strip_prefix(' ')
            .filter(|_| (1..=6).contains(&hashes))
        else {
            continue;
        };
        let base = slug(text.trim().trim_end_matches('#').trim());
        let mut anchor = base.clone();
        let mut repeat = 0;
        while anchors.contains(&anchor) {
            repeat += 1;
            anchor = format!("{base}-{repeat}");
        }
        anchors.insert(anchor);
    }
    anchors
}

fn slug(heading: &str) -> String {
    heading
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// `path` with `.` and `..` resolved textually (the target may not exist).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Checks one link of the Markdown file `document` inside the repository at `root`.
fn check_link(root: &Path, document: &Path, target: &str) -> Result<(), String> {
    if is_external(target) {
        return Ok(());
    }
    let (path, fragment) = target.split_once('#').unwrap_or((target, ""));
    let resolved = if path.is_empty() {
        document.to_path_buf()
    } else {
        normalize(&document.parent().unwrap_or(root).join(path))
    };
    if !resolved.starts_with(normalize(root)) {
        return Err(format!("`{target}` leaves the repository"));
    }
    if !resolved.exists() {
        return Err(format!("`{target}`: no such file in the repository"));
    }
    let is_markdown = resolved.extension().is_some_and(|e| e == "md");
    if !fragment.is_empty() && is_markdown && !heading_anchors(&read(&resolved)).contains(fragment)
    {
        return Err(format!(
            "`{target}`: {} has no heading with anchor #{fragment}",
            resolved.display()
        ));
    }
    Ok(())
}

/// The names of outside documents that `text` mentions.
fn outside_mentions(text: &str) -> Vec<&'static str> {
    OUTSIDE_DOCUMENTS
        .into_iter()
        .filter(|name| text.contains(name))
        .collect()
}

/// Mechanism ids (`S0-layers` … `S4-figures`: `S`, a seed digit, `-`, a lower-case name) that
/// `text` cites.
fn mechanism_ids(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut ids = Vec::new();
    for start in 0..bytes.len() {
        let starts_word = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        let prefix = &bytes[start..(start + 3).min(bytes.len())];
        if !starts_word || prefix.len() < 3 || prefix[0] != b'S' || prefix[2] != b'-' {
            continue;
        }
        if !(b'0'..=b'4').contains(&prefix[1]) {
            continue;
        }
        let name_len = bytes[start + 3..]
            .iter()
            .take_while(|b| b.is_ascii_lowercase())
            .count();
        if name_len > 0 {
            ids.push(text[start..start + 3 + name_len].to_string());
        }
    }
    ids
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn every_relative_markdown_link_resolves_inside_the_repository() {
    let root = normalize(&repo_root());
    let mut documents = Vec::new();
    files_with_extension(&root, &["md"], &mut documents);
    for required in ["README.md", "docs/architecture.md", "docs/cli.md"] {
        assert!(
            documents.contains(&root.join(required)),
            "{required} is missing"
        );
    }
    let mut broken = Vec::new();
    let mut checked = 0;
    for document in &documents {
        for target in link_targets(&read(document)) {
            checked += 1;
            if let Err(why) = check_link(&root, document, &target) {
                broken.push(format!("{}: {why}", relative(&root, document)));
            }
        }
    }
    assert!(checked > 0, "no links found: the extractor is broken");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn no_file_refers_to_documents_outside_the_repository() {
    let root = normalize(&repo_root());
    let this_file = root.join("tests/docs_links.rs");
    let mut files = Vec::new();
    files_with_extension(&root, &["md", "rs", "toml"], &mut files);
    let offenders: Vec<String> = files
        .iter()
        .filter(|path| **path != this_file)
        .flat_map(|path| {
            let text = read(path);
            text.lines()
                .enumerate()
                .filter(|(_, line)| !outside_mentions(line).is_empty())
                .map(|(n, line)| format!("{}:{}: {}", relative(&root, path), n + 1, line.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "these lines refer to documents that are not in the repository; point to \
         docs/architecture.md or cite the mechanism id instead:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn every_cited_mechanism_id_has_its_section_in_the_architecture() {
    let root = normalize(&repo_root());
    let explained = heading_anchors(&read(&root.join("docs/architecture.md")));
    let mut files = Vec::new();
    files_with_extension(&root, &["md", "rs", "toml"], &mut files);
    let mut unexplained = BTreeSet::new();
    for path in &files {
        for id in mechanism_ids(&read(path)) {
            if !explained.contains(&id.to_lowercase()) {
                unexplained.insert(format!("{id} (cited in {})", relative(&root, path)));
            }
        }
    }
    assert!(
        unexplained.is_empty(),
        "docs/architecture.md has no section for:\n{}",
        unexplained.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_extractor_finds_links_outside_code_only() {
    let sample = "See [the guide](docs/cli.md) and ![a picture](img/x.png \"title\").\n\
                  Code is not a link: `[x](in-code.md)` or ``[y](`z`.md)``.\n\
                  ```text\n[inside](fenced.md)\n```\n\
                  A [web page](https://example.com/a_(b)) and [a heading](#consensus).\n\
                  [ref]: docs/ref.md \"Title\"\n";
    assert_eq!(
        link_targets(sample),
        [
            "docs/cli.md",
            "img/x.png",
            "https://example.com/a_(b)",
            "#consensus",
            "docs/ref.md"
        ]
    );
}

#[test]
fn the_checker_refuses_broken_links() {
    let root = normalize(&repo_root());
    let readme = root.join("README.md");
    let sample = "[good](docs/architecture.md#consensus) [missing](docs/no-such-file.md) \
                  [bad anchor](docs/architecture.md#no-such-heading) [escape](../outside.md) \
                  [web](https://example.com/missing.md)";
    let verdicts: Vec<bool> = link_targets(sample)
        .iter()
        .map(|target| check_link(&root, &readme, target).is_ok())
        .collect();
    assert_eq!(verdicts, [true, false, false, false, true]);
}

#[test]
fn anchors_follow_the_renderers_rules() {
    let anchors = heading_anchors(
        "# Top\n## Benchmark (S4-figures)\n### 1. Command line — and client\n## Top\n\
         ```\n# not a heading\n```\n#### `Code` in a heading\n",
    );
    let expected: BTreeSet<String> = [
        "top",
        "benchmark-s4-figures",
        "1-command-line--and-client",
        "top-1",
        "code-in-a-heading",
    ]
    .map(String::from)
    .into();
    assert_eq!(anchors, expected);
}

#[test]
fn mechanism_ids_are_found_where_cited() {
    assert_eq!(
        mechanism_ids("rules (S2-register, S1-rights); S3-* and S9-x and XS1-no and S1- are not"),
        ["S2-register", "S1-rights"]
    );
}

#[test]
fn mentions_of_outside_documents_are_detected() {
    for name in OUTSIDE_DOCUMENTS {
        let line = format!("//! as described in {name} §2");
        assert_eq!(outside_mentions(&line), [name]);
    }
    assert!(outside_mentions("see docs/architecture.md § Consensus (S1-rights)").is_empty());
}
