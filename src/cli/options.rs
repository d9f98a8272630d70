//! Where each value comes from: the flag, else its HEALTHPROBE_* variable, `${VAR}`-expanded,
//! remembered with its source so that an error names the flag or the variable.

use std::convert::Infallible;

use pico_args::Arguments;

use super::Env;
use super::values::{env_var, expand, expand_target};
use crate::error::Error;
use crate::target::{Syntax, Target};

/// A value and where it came from (a flag or a variable), so errors can name it.
pub struct Setting {
    pub source: String,
    pub text: String,
}

impl Setting {
    /// The same setting with `${VAR}` expanded; errors name where it came from.
    pub fn expanded(self, env: Env) -> Result<Setting, Error> {
        let text = expand(&self.text, &self.source, env)?;
        Ok(Setting { text, ..self })
    }

    pub fn parse<T>(
        &self,
        parse: impl Fn(&str) -> Option<T>,
        expected: &'static str,
    ) -> Result<T, Error> {
        parse(&self.text).ok_or_else(|| self.invalid(expected))
    }

    pub fn invalid(&self, expected: &'static str) -> Error {
        Error::InvalidValue {
            source: self.source.clone(),
            value: self.text.clone(),
            expected,
        }
    }
}

pub struct Options<'a> {
    pub args: Arguments,
    pub env: Env<'a>,
}

impl Options<'_> {
    /// The option from the command line, else from the environment, `${VAR}`-expanded.
    pub fn value(&mut self, long: &'static str, var: &str) -> Result<Option<Setting>, Error> {
        // The `_fn` forms are the ones that also accept `--timeout=3s`.
        let from_args = self
            .args
            .opt_value_from_fn(long, verbatim)
            .map_err(|e| argument_error(e, long))?;
        let setting = match from_args {
            Some(text) => Some(Setting {
                source: long.to_string(),
                text,
            }),
            None => self.env_var(var)?.map(|text| Setting {
                source: var.to_string(),
                text,
            }),
        };
        setting
            .map(|setting| setting.expanded(self.env))
            .transpose()
    }

    /// A repeatable option; the variable holds one value per line.
    pub fn values(
        &mut self,
        short: &'static str,
        long: &'static str,
        var: &str,
    ) -> Result<Vec<Setting>, Error> {
        let from_args = self
            .args
            .values_from_fn([short, long], verbatim)
            .map_err(|e| argument_error(e, long))?;
        let settings: Vec<Setting> = if from_args.is_empty() {
            let text = self.env_var(var)?.unwrap_or_default();
            text.lines()
                .filter(|line| !line.trim().is_empty())
                .map(|line| Setting {
                    source: var.to_string(),
                    text: line.to_string(),
                })
                .collect()
        } else {
            from_args
                .into_iter()
                .map(|text| Setting {
                    source: long.to_string(),
                    text,
                })
                .collect()
        };
        settings
            .into_iter()
            .map(|setting| setting.expanded(self.env))
            .collect()
    }

    pub fn flag(&mut self, keys: [&'static str; 2], var: &str) -> Result<bool, Error> {
        if self.args.contains(keys) {
            return Ok(true);
        }
        let Some(text) = self.env_var(var)? else {
            return Ok(false);
        };
        match text.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "" | "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(Error::InvalidValue {
                source: var.to_string(),
                value: text,
                expected: "1, true, yes, on, or 0, false, no, off",
            }),
        }
    }

    /// Targets from the command line, else from HEALTHPROBE_TARGETS; anything left that
    /// looks like an option is an error rather than a target.
    pub fn targets(self, kinds: &[impl AsRef<Syntax>]) -> Result<Vec<Target>, Error> {
        const VAR: &str = "HEALTHPROBE_TARGETS";
        let env = self.env;
        let mut texts = Vec::new();
        for arg in self.args.finish() {
            let Some(text) = arg.to_str() else {
                return Err(Error::InvalidTarget {
                    target: arg.to_string_lossy().into_owned(),
                    reason: "not valid UTF-8".to_string(),
                });
            };
            if text.starts_with('-') && text.len() > 1 {
                return Err(Error::UnknownOption(text.to_string()));
            }
            // The error's wording (format!) only where there is something to expand.
            texts.push(match text.contains('$') {
                true => expand_target(text, &format!("target '{text}'"), env, kinds)?,
                false => text.to_string(),
            });
        }
        if texts.is_empty() {
            let listed = env_var(env, VAR)?.unwrap_or_default();
            let listed = expand_target(&listed, VAR, env, kinds)?;
            texts = listed.split_whitespace().map(str::to_string).collect();
        }
        if texts.is_empty() {
            return Err(Error::NoTargets);
        }
        texts
            .iter()
            .map(|text| Target::parse(text, kinds))
            .collect()
    }

    pub fn env_var(&self, name: &str) -> Result<Option<String>, Error> {
        env_var(self.env, name)
    }
}

fn verbatim(value: &str) -> Result<String, Infallible> {
    Ok(value.to_string())
}

pub fn argument_error(e: pico_args::Error, option: &str) -> Error {
    match e {
        pico_args::Error::OptionWithoutAValue(_) => Error::MissingValue(option.to_string()),
        _ => Error::InvalidValue {
            source: option.to_string(),
            value: String::new(),
            expected: "valid UTF-8",
        },
    }
}
