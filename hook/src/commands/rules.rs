//! `fnguard rules`: the built-in detection rules.

use anyhow::Result;
use fnguard_policy::rules::RULES;
use serde_json::json;

pub fn run(json_output: bool) -> Result<()> {
    if json_output {
        let rules: Vec<_> = RULES
            .iter()
            .map(|r| {
                json!({
                    "name": r.name,
                    "severity": r.severity.to_string(),
                    "technique": r.technique,
                    "default": if r.default_on { "alert" } else { "off" },
                    "description": r.summary,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rules)?);
        return Ok(());
    }
    println!(
        "{:<24} {:<9} {:<10} {:<8} DESCRIPTION",
        "RULE", "SEVERITY", "TECHNIQUE", "DEFAULT"
    );
    for r in RULES {
        let default = if r.default_on { "alert" } else { "off" };
        println!(
            "{:<24} {:<9} {:<10} {:<8} {}",
            r.name,
            r.severity.to_string(),
            r.technique,
            default,
            r.summary
        );
    }
    println!(
        "\nPer function: fnguard.io/rules.disable=NAME,... turns rules off; fnguard.io/rules.kill=NAME,... \
         makes them kill the process in enforce mode (and turns off-by-default rules on). See docs/rules.md."
    );
    Ok(())
}
