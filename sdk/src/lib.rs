//! Write CRM plugins in Rust.
//!
//! A plugin is a WebAssembly component plus a `plugin.toml` manifest. This
//! crate is the only dependency a plugin needs: implement [`Plugin`] (every
//! method has a default), register the type with [`export_plugin!`], and
//! build with `cargo build --target wasm32-wasip2 --release`.
//!
//! ```
//! use crm_plugin_sdk::{models::Contact, Context, Error, Plugin, Record, Score};
//!
//! struct TitleScore;
//!
//! impl Plugin for TitleScore {
//!     fn new() -> Self {
//!         TitleScore
//!     }
//!
//!     fn score(&self, _ctx: &Context, record: &Record) -> Result<Vec<Score>, Error> {
//!         let contact: Contact = record.parse()?;
//!         let senior = contact.title.is_some_and(|t| t.contains("VP"));
//!         Ok(vec![Score::new("lead", if senior { 80 } else { 20 })])
//!     }
//! }
//!
//! crm_plugin_sdk::export_plugin!(TitleScore);
//!
//! // Rules are unit-tested natively with the harness:
//! let scores = crm_plugin_sdk::testing::Harness::<TitleScore>::new()
//!     .score(serde_json::json!({ "title": "VP Sales" }));
//! assert_eq!(scores[0].value, 80);
//! ```
//!
//! The contract this crate implements is `crm:plugin@0.1.0`
//! (`wit/since_v0.1.0/plugin.wit`). See the crate README for the manifest
//! format, limits and failure policies.

pub mod bindings;
mod context;
mod decision;
mod error;
pub mod log;
pub mod models;
mod score;
pub mod testing;
#[cfg(test)]
mod tests;

pub use context::{Context, Record};
pub use decision::{Decision, FieldError, FieldPatch};
pub use error::Error;
pub use score::Score;

/// The data-cleaning rules the host uses too (E.164 phones, e-mails, names),
/// so a plugin normalises exactly as the CRM does.
///
/// ```
/// let tidy = crm_plugin_sdk::normalize::name::tidy_person_name("  li   lei ");
/// assert!(!tidy.starts_with(' '));
/// ```
pub use crm_normalize as normalize;

/// The version of the `crm:plugin` contract this SDK builds components
/// against; write it as `contract` in `plugin.toml`.
///
/// ```
/// assert_eq!(crm_plugin_sdk::CONTRACT_VERSION, "0.1.0");
/// ```
pub const CONTRACT_VERSION: &str = "0.1.0";

/// A plugin: pure functions the host calls before a write (`validate`) and
/// after one (`score`).
///
/// Implement the per-record methods; the batch methods loop over them.
/// Override a batch method to do per-call work once (read the configuration,
/// build a lookup table). The host creates a fresh instance for every call, so
/// nothing survives from one call to the next.
///
/// ```
/// use crm_plugin_sdk::{Context, Decision, Error, FieldError, Plugin, Record};
///
/// struct NoGmail;
///
/// impl Plugin for NoGmail {
///     fn new() -> Self {
///         NoGmail
///     }
///
///     fn validate(&self, _ctx: &Context, record: &Record) -> Result<Decision, Error> {
///         match record.get("email").and_then(|v| v.as_str()) {
///             Some(e) if e.ends_with("@gmail.com") => Ok(Decision::reject(FieldError::new(
///                 "email",
///                 "PERSONAL_EMAIL",
///                 "use a work address",
///             ))),
///             _ => Ok(Decision::Accept),
///         }
///     }
/// }
///
/// let harness = crm_plugin_sdk::testing::Harness::<NoGmail>::new();
/// assert!(harness.validate(serde_json::json!({ "email": "x@gmail.com" })).is_reject());
/// ```
pub trait Plugin {
    /// A new instance, created for every call.
    ///
    /// ```
    /// # use crm_plugin_sdk::Plugin;
    /// struct Noop;
    /// impl Plugin for Noop {
    ///     fn new() -> Self {
    ///         Noop
    ///     }
    /// }
    /// ```
    fn new() -> Self
    where
        Self: Sized;

    /// Accept, patch or reject one candidate record (the record as it is
    /// about to be written, in the GraphQL shape; `id` is present on update).
    /// Defaults to accepting.
    ///
    /// ```
    /// # use crm_plugin_sdk::{Context, Decision, Error, Plugin, Record};
    /// struct Upper;
    /// impl Plugin for Upper {
    ///     fn new() -> Self {
    ///         Upper
    ///     }
    ///     fn validate(&self, _ctx: &Context, record: &Record) -> Result<Decision, Error> {
    ///         Ok(match record.get("country").and_then(|v| v.as_str()) {
    ///             Some(c) if c != c.to_uppercase() => {
    ///                 Decision::patch("country", c.to_uppercase().into())
    ///             }
    ///             _ => Decision::Accept,
    ///         })
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    /// An [`Error`] fails the whole call (see [`Error`]).
    fn validate(&self, _ctx: &Context, _record: &Record) -> Result<Decision, Error> {
        Ok(Decision::Accept)
    }

    /// The scores of one record (the JSON result of the function's input
    /// query). Defaults to no scores.
    ///
    /// ```
    /// # use crm_plugin_sdk::{Context, Error, Plugin, Record, Score};
    /// struct Constant;
    /// impl Plugin for Constant {
    ///     fn new() -> Self {
    ///         Constant
    ///     }
    ///     fn score(&self, _ctx: &Context, _record: &Record) -> Result<Vec<Score>, Error> {
    ///         Ok(vec![Score::new("constant", 50).with_reason("always 50")])
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    /// An [`Error`] fails the whole call (see [`Error`]).
    fn score(&self, _ctx: &Context, _record: &Record) -> Result<Vec<Score>, Error> {
        Ok(Vec::new())
    }

    /// Validate a batch; the result is parallel to `records`.
    ///
    /// ```
    /// # use crm_plugin_sdk::{Context, Decision, Error, FieldError, Plugin, Record};
    /// struct Required;
    /// impl Plugin for Required {
    ///     fn new() -> Self {
    ///         Required
    ///     }
    ///     fn validate_batch(&self, ctx: &Context, records: &[Record]) -> Result<Vec<Decision>, Error> {
    ///         // Read the configuration once per call, not once per record.
    ///         let field = ctx.config_value()["field"].as_str().unwrap_or("email");
    ///         Ok(records
    ///             .iter()
    ///             .map(|r| match r.get(field) {
    ///                 Some(v) if !v.is_null() => Decision::Accept,
    ///                 _ => Decision::reject(FieldError::new(field, "REQUIRED", "is required")),
    ///             })
    ///             .collect())
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    /// An [`Error`] fails the whole call.
    fn validate_batch(&self, ctx: &Context, records: &[Record]) -> Result<Vec<Decision>, Error> {
        records.iter().map(|r| self.validate(ctx, r)).collect()
    }

    /// Score a batch; the result is parallel to `records`.
    ///
    /// ```
    /// # use crm_plugin_sdk::{Context, Error, Plugin, Record, Score};
    /// struct Batched;
    /// impl Plugin for Batched {
    ///     fn new() -> Self {
    ///         Batched
    ///     }
    ///     fn score_batch(&self, ctx: &Context, records: &[Record]) -> Result<Vec<Vec<Score>>, Error> {
    ///         let base = ctx.config_value()["base"].as_u64().unwrap_or(10); // once per call
    ///         Ok(records.iter().map(|_| vec![Score::from_points("base", base as i64)]).collect())
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    /// An [`Error`] fails the whole call.
    fn score_batch(&self, ctx: &Context, records: &[Record]) -> Result<Vec<Vec<Score>>, Error> {
        records.iter().map(|r| self.score(ctx, r)).collect()
    }
}

/// Export a [`Plugin`] implementation as the component's `crm:plugin/functions`.
///
/// Use it once, at the root of the plugin crate (`crate-type = ["cdylib", "rlib"]`).
/// Natively (in `cargo test`) it only type-checks; the exports exist in the
/// `wasm32` build.
///
/// ```
/// use crm_plugin_sdk::Plugin;
///
/// struct Hello;
///
/// impl Plugin for Hello {
///     fn new() -> Self {
///         Hello
///     }
/// }
///
/// crm_plugin_sdk::export_plugin!(Hello);
/// ```
// rustfmt cannot parse `with_types_in` and would misplace that line.
#[rustfmt::skip]
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            use $crate::bindings::exports::crm::plugin::functions as __wit;

            // Only constructed by the wasm exports.
            #[allow(dead_code)]
            struct __CrmPluginExport;

            impl __wit::Guest for __CrmPluginExport {
                fn validate(
                    ctx: __wit::CallContext,
                    records: ::std::vec::Vec<__wit::Json>,
                ) -> ::core::result::Result<::std::vec::Vec<__wit::Decision>, __wit::PluginError>
                {
                    $crate::__private::validate::<$plugin>(ctx, records)
                }

                fn score(
                    ctx: __wit::CallContext,
                    records: ::std::vec::Vec<__wit::Json>,
                ) -> ::core::result::Result<
                    ::std::vec::Vec<::std::vec::Vec<__wit::ScoreValue>>,
                    __wit::PluginError,
                > {
                    $crate::__private::score::<$plugin>(ctx, records)
                }
            }

            #[cfg(target_arch = "wasm32")]
            $crate::bindings::export!(__CrmPluginExport with_types_in $crate::bindings);
        };
    };
}

#[doc(hidden)]
pub mod __private {
    //! The glue between the generated bindings and [`Plugin`](crate::Plugin).

    use crate::bindings::crm::plugin::types as wit;
    use crate::{Context, Decision, Error, Plugin, Record, Score};

    /// Parse the call's context and records, then run `validate_batch`.
    pub fn validate<P: Plugin>(
        ctx: wit::CallContext,
        records: Vec<String>,
    ) -> Result<Vec<wit::Decision>, wit::PluginError> {
        let (ctx, records) = prepare(&ctx.tenant, &ctx.entity, &ctx.config, &records)?;
        Ok(run_validate(&P::new(), &ctx, &records)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Parse the call's context and records, then run `score_batch`.
    pub fn score<P: Plugin>(
        ctx: wit::CallContext,
        records: Vec<String>,
    ) -> Result<Vec<Vec<wit::ScoreValue>>, wit::PluginError> {
        let (ctx, records) = prepare(&ctx.tenant, &ctx.entity, &ctx.config, &records)?;
        Ok(run_score(&P::new(), &ctx, &records)?
            .into_iter()
            .map(|scores| scores.into_iter().map(Into::into).collect())
            .collect())
    }

    pub(crate) fn prepare(
        tenant: &str,
        entity: &str,
        config: &str,
        records: &[String],
    ) -> Result<(Context, Vec<Record>), Error> {
        let config = if config.trim().is_empty() {
            serde_json::Value::Object(serde_json::Map::new())
        } else {
            serde_json::from_str(config)
                .map_err(|e| Error::invalid_config(format!("configuration is not JSON: {e}")))?
        };
        let records = records
            .iter()
            .enumerate()
            .map(|(i, json)| {
                Record::from_json(json)
                    .map_err(|e| Error::new(e.code, format!("record {i}: {}", e.message)))
            })
            .collect::<Result<_, _>>()?;
        Ok((Context::new(tenant, entity, config), records))
    }

    pub(crate) fn run_validate<P: Plugin>(
        plugin: &P,
        ctx: &Context,
        records: &[Record],
    ) -> Result<Vec<Decision>, Error> {
        let decisions = plugin.validate_batch(ctx, records)?;
        parallel(decisions, records.len(), "decisions")
    }

    pub(crate) fn run_score<P: Plugin>(
        plugin: &P,
        ctx: &Context,
        records: &[Record],
    ) -> Result<Vec<Vec<Score>>, Error> {
        let scores = plugin.score_batch(ctx, records)?;
        parallel(scores, records.len(), "score lists")
    }

    /// A batch override that loses or invents records is a plugin bug: say so
    /// here rather than let the host pair results with the wrong records.
    fn parallel<T>(results: Vec<T>, expected: usize, what: &str) -> Result<Vec<T>, Error> {
        if results.len() == expected {
            Ok(results)
        } else {
            Err(Error::new(
                "BAD_OUTPUT",
                format!("returned {} {what} for {expected} records", results.len()),
            ))
        }
    }

    impl From<Error> for wit::PluginError {
        fn from(e: Error) -> Self {
            Self {
                code: e.code,
                message: e.message,
            }
        }
    }

    impl From<Decision> for wit::Decision {
        fn from(d: Decision) -> Self {
            match d {
                Decision::Accept => Self::Accept,
                Decision::Patch(patches) => Self::Patch(
                    patches
                        .into_iter()
                        .map(|p| wit::FieldPatch {
                            path: p.path,
                            value: p.value.to_string(),
                        })
                        .collect(),
                ),
                Decision::Reject(errors) => Self::Reject(
                    errors
                        .into_iter()
                        .map(|e| wit::FieldError {
                            path: e.path,
                            code: e.code,
                            message: e.message,
                        })
                        .collect(),
                ),
            }
        }
    }

    impl From<Score> for wit::ScoreValue {
        fn from(s: Score) -> Self {
            Self {
                name: s.name,
                value: s.value,
                grade: s.grade,
                reasons: s.reasons,
            }
        }
    }
}
