//! Resource limits: `fnguard.io/limits.<name>: VALUE [ACTION]`, values with
//! units (`64Mi`, `500ms`, `10MB/s`), each with what happens past it.

use std::fmt;

/// What a limit does when crossed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitAction {
    /// Report once; nothing is stopped.
    Alert,
    /// Terminate the function: every task is killed.
    Kill,
    /// Refuse the connection or drop the packet that goes over.
    Throttle,
}

impl LimitAction {
    /// The kernel's `enum fng_limit_action`.
    pub fn code(self) -> u8 {
        match self {
            LimitAction::Alert => 1,
            LimitAction::Kill => 2,
            LimitAction::Throttle => 3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            LimitAction::Alert => "alert",
            LimitAction::Kill => "kill",
            LimitAction::Throttle => "throttle",
        }
    }
}

/// How a limit's value is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Count,
    /// A duration; kept in nanoseconds.
    Duration,
    Bytes,
    BytesPerSecond,
}

/// One limit a function may set.
#[derive(Debug)]
pub struct LimitSpec {
    /// `enum fng_limit` in the kernel.
    pub id: usize,
    /// The annotation is `fnguard.io/limits.<name>`.
    pub name: &'static str,
    pub unit: Unit,
    pub default_action: LimitAction,
    /// Network limits can throttle; the others only alert or kill.
    pub can_throttle: bool,
    pub meaning: &'static str,
}

/// Every limit, by kernel id.
pub const LIMITS: &[LimitSpec] = &[
    LimitSpec {
        id: 0,
        name: "procs",
        unit: Unit::Count,
        default_action: LimitAction::Kill,
        can_throttle: false,
        meaning: "live tasks (processes and threads) at once",
    },
    LimitSpec {
        id: 1,
        name: "forks-per-sec",
        unit: Unit::Count,
        default_action: LimitAction::Kill,
        can_throttle: false,
        meaning: "tasks created within one second",
    },
    LimitSpec {
        id: 2,
        name: "cpu-ms",
        unit: Unit::Duration,
        default_action: LimitAction::Kill,
        can_throttle: false,
        meaning: "CPU time over the container's life (a bare number is milliseconds)",
    },
    LimitSpec {
        id: 3,
        name: "memory",
        unit: Unit::Bytes,
        default_action: LimitAction::Kill,
        can_throttle: false,
        meaning: "resident memory of all its processes together",
    },
    LimitSpec {
        id: 4,
        name: "connections",
        unit: Unit::Count,
        default_action: LimitAction::Throttle,
        can_throttle: true,
        meaning: "TCP connections open at once; throttle refuses new outbound ones",
    },
    LimitSpec {
        id: 5,
        name: "connections-per-sec",
        unit: Unit::Count,
        default_action: LimitAction::Throttle,
        can_throttle: true,
        meaning: "outbound TCP connects within one second; throttle refuses the rest",
    },
    LimitSpec {
        id: 6,
        name: "egress-bytes",
        unit: Unit::Bytes,
        default_action: LimitAction::Throttle,
        can_throttle: true,
        meaning: "payload bytes sent over the container's life; throttle drops the rest",
    },
    LimitSpec {
        id: 7,
        name: "ingress-bytes",
        unit: Unit::Bytes,
        default_action: LimitAction::Throttle,
        can_throttle: true,
        meaning: "payload bytes received over the container's life; throttle drops the rest",
    },
    LimitSpec {
        id: 8,
        name: "egress-rate",
        unit: Unit::BytesPerSecond,
        default_action: LimitAction::Throttle,
        can_throttle: true,
        meaning: "payload bytes sent per second; throttle drops packets above the rate",
    },
];

/// Annotation prefix of every limit.
pub const LIMIT_KEY_PREFIX: &str = "fnguard.io/limits.";

/// Highest egress-rate: the kernel's token arithmetic stays in 64 bits.
const MAX_RATE: u64 = 1 << 40;

/// The limit an annotation key names.
pub fn limit_for_key(key: &str) -> Option<&'static LimitSpec> {
    let name = key.strip_prefix(LIMIT_KEY_PREFIX)?;
    LIMITS.iter().find(|l| l.name == name)
}

/// A function's limits, by kernel id: value (in kernel units: tasks, ns,
/// bytes, bytes per second) and action.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub set: [Option<(u64, LimitAction)>; 9],
}

impl Limits {
    pub fn get(&self, name: &str) -> Option<(u64, LimitAction)> {
        LIMITS.iter().find(|l| l.name == name).and_then(|l| self.set[l.id])
    }

    pub fn is_empty(&self) -> bool {
        self.set.iter().all(Option::is_none)
    }

    /// True when a connection limit is set (the connect programs then look them up).
    pub fn limits_connections(&self) -> bool {
        self.set[4].is_some() || self.set[5].is_some()
    }

    /// True when egress-rate stops traffic (not only alerts): TCP
    /// connections are then paced at the rate.
    pub fn paces_connections(&self) -> bool {
        matches!(self.set[8], Some((_, action)) if action != LimitAction::Alert)
    }
}

impl fmt::Display for LimitAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses `VALUE [ACTION]` for one limit.
pub fn parse_limit(spec: &LimitSpec, value: &str) -> Result<(u64, LimitAction), String> {
    let mut words = value.split_whitespace();
    let amount = words
        .next()
        .ok_or("empty; write a value, e.g. `64`, `64Mi`, `500ms` or `10MB/s`")?;
    let action = match words.next() {
        None => spec.default_action,
        Some(word) => parse_action(spec, word)?,
    };
    if let Some(extra) = words.next() {
        return Err(format!("unexpected {extra:?} after the action; write `VALUE [ACTION]`"));
    }
    let n = match spec.unit {
        Unit::Count => parse_count(amount)?,
        Unit::Duration => parse_duration_ns(amount)?,
        Unit::Bytes => parse_bytes(amount)?,
        Unit::BytesPerSecond => {
            let bytes = amount.strip_suffix("/s").unwrap_or(amount);
            let rate = parse_bytes(bytes)?;
            if rate > MAX_RATE {
                return Err(format!(
                    "{amount} is above the highest rate, {MAX_RATE} bytes per second"
                ));
            }
            rate
        }
    };
    if n == 0 {
        return Err("a limit of zero allows nothing; remove the annotation for no limit".into());
    }
    // The kernel compares counts that can go negative while racing.
    if n > i64::MAX as u64 {
        return Err(format!("{amount} is too large; at most {}", i64::MAX));
    }
    Ok((n, action))
}

fn parse_action(spec: &LimitSpec, word: &str) -> Result<LimitAction, String> {
    let action = match word {
        "alert" => LimitAction::Alert,
        "kill" => LimitAction::Kill,
        "throttle" => LimitAction::Throttle,
        other => {
            return Err(format!(
                "unknown action {other:?}; use {}",
                if spec.can_throttle {
                    "alert, kill or throttle"
                } else {
                    "alert or kill"
                }
            ))
        }
    };
    if action == LimitAction::Throttle && !spec.can_throttle {
        return Err(format!(
            "limits.{} cannot throttle (only network limits can); use alert or kill",
            spec.name
        ));
    }
    Ok(action)
}

fn parse_count(text: &str) -> Result<u64, String> {
    text.parse::<u64>()
        .map_err(|_| format!("{text:?} is not a whole number"))
}

/// `500ms`, `2s`, `1.5s`, `1m`, `1h`, `250us`; a bare number is milliseconds.
fn parse_duration_ns(text: &str) -> Result<u64, String> {
    let (number, scale) = split_number(text)?;
    let ns_per = match scale {
        "" | "ms" => 1_000_000.0,
        "us" => 1_000.0,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        other => return Err(format!("unknown time unit {other:?} in {text:?}; use ms, s, m or h")),
    };
    scaled(text, number, ns_per)
}

/// `64Mi`, `1Gi`, `512k`, `10MB`, `100`; decimal (k, M, G, T) and binary
/// (Ki, Mi, Gi, Ti) units, an optional trailing `B`.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let (number, unit) = split_number(text)?;
    let unit = unit.strip_suffix('B').unwrap_or(unit);
    let per = match unit {
        "" => 1.0,
        "k" | "K" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {text:?}; use k, M, G, Ki, Mi or Gi (B optional)"
            ))
        }
    };
    scaled(text, number, per)
}

fn split_number(text: &str) -> Result<(&str, &str), String> {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    if end == 0 {
        return Err(format!("{text:?} does not start with a number"));
    }
    Ok(text.split_at(end))
}

fn scaled(text: &str, number: &str, per: f64) -> Result<u64, String> {
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a number"))?;
    let value = (n * per).round();
    if !value.is_finite() || value >= u64::MAX as f64 {
        return Err(format!("{text:?} is too large"));
    }
    Ok(value as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> &'static LimitSpec {
        LIMITS.iter().find(|l| l.name == name).unwrap()
    }

    #[test]
    fn ids_are_positions() {
        for (i, l) in LIMITS.iter().enumerate() {
            assert_eq!(l.id, i, "{}", l.name);
        }
        assert_eq!(Limits::default().set.len(), LIMITS.len());
    }

    #[test]
    fn units() {
        assert_eq!(
            parse_limit(spec("memory"), "64Mi").unwrap(),
            (64 << 20, LimitAction::Kill)
        );
        assert_eq!(
            parse_limit(spec("memory"), "1.5GB alert").unwrap(),
            (1_500_000_000, LimitAction::Alert)
        );
        assert_eq!(parse_limit(spec("memory"), "512k").unwrap().0, 512_000);
        assert_eq!(parse_limit(spec("memory"), "4096").unwrap().0, 4096);
        assert_eq!(parse_limit(spec("cpu-ms"), "500ms").unwrap().0, 500_000_000);
        assert_eq!(parse_limit(spec("cpu-ms"), "2s").unwrap().0, 2_000_000_000);
        assert_eq!(parse_limit(spec("cpu-ms"), "250").unwrap().0, 250_000_000);
        assert_eq!(
            parse_limit(spec("egress-rate"), "10MB/s").unwrap(),
            (10_000_000, LimitAction::Throttle)
        );
        assert_eq!(
            parse_limit(spec("egress-rate"), "1Mi/s kill").unwrap(),
            (1 << 20, LimitAction::Kill)
        );
        assert_eq!(parse_limit(spec("procs"), "64").unwrap(), (64, LimitAction::Kill));
        assert_eq!(
            parse_limit(spec("connections"), "10 alert").unwrap(),
            (10, LimitAction::Alert)
        );
    }

    #[test]
    fn bad_values_say_why() {
        let err = |name, value| parse_limit(spec(name), value).unwrap_err();
        assert!(err("memory", "64Q").contains("unknown size unit \"Q\""));
        assert!(err("memory", "lots").contains("does not start with a number"));
        assert!(err("procs", "1.5").contains("not a whole number"));
        assert!(err("procs", "0").contains("zero"));
        assert!(err("procs", "").contains("empty"));
        assert!(err("procs", "64 throttle").contains("cannot throttle"));
        assert!(err("egress-bytes", "1Mi stop").contains("alert, kill or throttle"));
        assert!(err("cpu-ms", "5 fortnights").contains("unknown action"));
        assert!(err("cpu-ms", "5d").contains("unknown time unit"));
        assert!(err("memory", "1Gi kill now").contains("unexpected"));
        assert!(err("egress-rate", "2Ti/s").contains("highest rate"));
        assert!(err("procs", "10000000000000000000").contains("too large"));
    }

    #[test]
    fn keys() {
        assert_eq!(limit_for_key("fnguard.io/limits.memory").unwrap().id, 3);
        assert!(limit_for_key("fnguard.io/limits.disk").is_none());
        assert!(limit_for_key("fnguard.io/egress").is_none());
    }
}
