//! `--shard K/N`: which accounts this process runs when N processes share a config.
//!
//! An account belongs to shard `FNV-1a-64(name) mod N + 1`: the 64-bit FNV-1a hash (offset
//! basis 0xcbf29ce484222325, prime 0x100000001b3) of the account name's UTF-8 bytes. It
//! depends on nothing but the name and N: not on the machine, the platform, the mailfetch
//! version or the other accounts, so every account lands in exactly one shard on every
//! machine, and adding (or removing) accounts moves none of the others. This hash is a
//! contract, as the config keys are: changing it would hand accounts to other machines
//! (whose state directories do not know them) on an upgrade.
//!
//! Shards are numbered 1..=N, as systemd instances (`mailfetch@1-4`) and people count.
//! `--shard env` is for Kubernetes Indexed Jobs: the shard is `JOB_COMPLETION_INDEX + 1`
//! (that index counts from 0) and N is `MAILFETCH_SHARDS`; `--shard env/N` gives N on the
//! command line instead.

use std::fmt;

/// The environment variable a Kubernetes Indexed Job sets in each pod: 0, 1, ... N-1.
pub const INDEX_ENV: &str = "JOB_COMPLETION_INDEX";
/// The number of shards for `--shard env`.
pub const COUNT_ENV: &str = "MAILFETCH_SHARDS";
/// The most shards there can be.
pub const MAX_SHARDS: u32 = 100_000;

/// One shard of N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, 1..=count.
    pub number: u32,
    /// How many shards there are.
    pub count: u32,
}

impl Shard {
    /// `K/N`, `env` or `env/N` (reading the environment through `var`).
    pub fn parse_with(text: &str, var: &dyn Fn(&str) -> Option<String>) -> Result<Shard, String> {
        let count_of = |n: &str, from: &str| -> Result<u32, String> {
            match n.trim().parse::<u32>() {
                Ok(n) if (1..=MAX_SHARDS).contains(&n) => Ok(n),
                _ => Err(format!(
                    "{from} {n:?}: the number of shards must be 1 to {MAX_SHARDS}"
                )),
            }
        };
        let (number, count) = if let Some(rest) = text.strip_prefix("env") {
            let count = match rest.strip_prefix('/') {
                Some(n) => count_of(n, "--shard env/N:")?,
                None if rest.is_empty() => {
                    let n = var(COUNT_ENV).ok_or_else(|| {
                        format!(
                            "--shard env needs {COUNT_ENV} (the number of shards) or --shard env/N"
                        )
                    })?;
                    count_of(&n, COUNT_ENV)?
                }
                None => return Err(usage(text)),
            };
            let index = var(INDEX_ENV).ok_or_else(|| {
                format!("--shard env: {INDEX_ENV} is not set (it is set in the pods of a Kubernetes Indexed Job)")
            })?;
            let index = index
                .trim()
                .parse::<u32>()
                .map_err(|_| format!("{INDEX_ENV} {index:?} is not a number"))?;
            (index.saturating_add(1), count)
        } else {
            let (k, n) = text.split_once('/').ok_or_else(|| usage(text))?;
            let k = k.trim().parse::<u32>().map_err(|_| usage(text))?;
            (k, count_of(n, "--shard")?)
        };
        if number == 0 || number > count {
            return Err(format!(
                "shard {number} of {count}: shards are numbered 1 to {count}"
            ));
        }
        Ok(Shard { number, count })
    }

    /// Whether the account `name` is in this shard.
    pub fn holds(&self, name: &str) -> bool {
        shard_of(name, self.count) == self.number
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.number, self.count)
    }
}

/// The clap value parser of `--shard`, reading the process environment.
pub fn parse(text: &str) -> Result<Shard, String> {
    Shard::parse_with(text, &|k| std::env::var(k).ok())
}

fn usage(text: &str) -> String {
    format!("--shard {text:?}: write K/N (shard K of N, from 1), env or env/N")
}

/// The shard (1..=count) of the account `name`.
pub fn shard_of(name: &str, count: u32) -> u32 {
    (fnv1a64(name.as_bytes()) % u64::from(count.max(1))) as u32 + 1
}

/// 64-bit FNV-1a.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("user{i}@example.com")).collect()
    }

    #[test]
    fn the_hash_is_fnv1a_64_as_published() {
        // Test vectors of the FNV reference (isthe.com/chongo/tech/comp/fnv).
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn every_account_is_in_exactly_one_shard() {
        for count in [1, 2, 3, 4, 7, 16] {
            let shards: Vec<Shard> = (1..=count).map(|number| Shard { number, count }).collect();
            let mut sizes = vec![0usize; count as usize];
            for name in names(1000) {
                let holders: Vec<&Shard> = shards.iter().filter(|s| s.holds(&name)).collect();
                assert_eq!(holders.len(), 1, "{name} in {count} shards");
                sizes[holders[0].number as usize - 1] += 1;
            }
            // And the shards are about even: none under half its fair share.
            let fair = 1000 / count as usize;
            assert!(sizes.iter().all(|&s| s * 2 >= fair), "{count}: {sizes:?}");
        }
    }

    #[test]
    fn adding_accounts_moves_none_of_the_old_ones() {
        let before: Vec<(String, u32)> = names(300)
            .into_iter()
            .map(|n| (n.clone(), shard_of(&n, 4)))
            .collect();
        // More accounts, in another order: the old ones stay where they were.
        let mut after = names(600);
        after.reverse();
        for (name, shard) in &before {
            assert!(after.contains(name));
            assert_eq!(shard_of(name, 4), *shard, "{name}");
        }
    }

    #[test]
    fn shard_specs_parse_from_the_command_line_and_the_environment() {
        let none = |_: &str| None;
        assert_eq!(
            Shard::parse_with("2/4", &none),
            Ok(Shard {
                number: 2,
                count: 4
            })
        );
        for bad in ["0/4", "5/4", "4", "a/4", "1/0", "1/", "envy"] {
            assert!(Shard::parse_with(bad, &none).is_err(), "{bad}");
        }
        let pod = |k: &str| match k {
            INDEX_ENV => Some("3".to_string()),
            COUNT_ENV => Some("8".to_string()),
            _ => None,
        };
        assert_eq!(
            Shard::parse_with("env", &pod),
            Ok(Shard {
                number: 4,
                count: 8
            })
        );
        assert_eq!(
            Shard::parse_with("env/5", &pod),
            Ok(Shard {
                number: 4,
                count: 5
            })
        );
        assert!(Shard::parse_with("env/3", &pod)
            .unwrap_err()
            .contains("shard 4 of 3"));
        let err = Shard::parse_with("env", &none).unwrap_err();
        assert!(err.contains(COUNT_ENV), "{err}");
    }
}
