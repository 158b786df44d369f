//! README.md's generated tables: the config keys (from `config::keys`) and the exit codes
//! (from `error::Exit`), kept between marker comments so that README can say them in its own
//! words around them and still not drift. `mailfetch generate readme` (run by
//! `scripts/generate`) rewrites them; tests/generated.rs fails when README is not current.

/// The generated regions: the name in the markers, and what goes between them.
fn regions() -> [(&'static str, String); 2] {
    [
        ("config-keys", crate::config::keys::markdown()),
        ("exit-codes", crate::error::Exit::markdown()),
    ]
}

/// `readme` with every generated region rewritten: the lines between
/// `<!-- generated: NAME ... -->` and `<!-- end generated: NAME -->` replaced by the current
/// table. A region whose markers are missing or out of order is an error naming it.
pub fn update(readme: &str) -> Result<String, String> {
    let mut text = readme.to_string();
    for (name, table) in regions() {
        let open = format!("<!-- generated: {name} ");
        let close = format!("<!-- end generated: {name} -->");
        let start = text
            .find(&open)
            .ok_or_else(|| format!("README has no {open}...--> line"))?;
        let body = start
            + text[start..]
                .find('\n')
                .ok_or_else(|| format!("README ends on its {name} marker"))?
            + 1;
        let end = text[body..]
            .find(&close)
            .map(|i| body + i)
            .ok_or_else(|| format!("README has no {close} after its {name} marker"))?;
        text.replace_range(body..end, &table);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_lines_between_the_markers_are_rewritten() {
        let readme = "# x\nbefore\n<!-- generated: config-keys (do not edit) -->\nstale\n\
                      <!-- end generated: config-keys -->\nmiddle\n\
                      <!-- generated: exit-codes (do not edit) -->\n\
                      <!-- end generated: exit-codes -->\nafter\n";
        let new = update(readme).unwrap();
        assert!(
            new.starts_with("# x\nbefore\n<!-- generated: config-keys (do not edit) -->\n| key |")
        );
        assert!(!new.contains("stale"));
        assert!(
            new.contains("| `max-connections-per-host` | integer |"),
            "{new}"
        );
        assert!(new.contains("| 78 | configuration error; "), "{new}");
        assert!(new.ends_with("<!-- end generated: exit-codes -->\nafter\n"));
        assert_eq!(update(&new).unwrap(), new, "a second run changes nothing");
        assert!(update("# x\n").unwrap_err().contains("config-keys"));
    }
}
