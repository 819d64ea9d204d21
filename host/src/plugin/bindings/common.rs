//! What the bindings of contract versions share: the `log` import in all
//! of them ([`every_version!`]); the `host` import and the calls into
//! `functions` and `handlers` from 0.2.0 on ([`since_v0_2!`]), whose WIT is
//! the same in each of these versions. Each version's module runs
//! `wasmtime::component::bindgen!` on its own WIT snapshot (the generated
//! types are distinct per version) and then expands [`since_v0_2!`] over
//! them; what a version adds (0.3.0: `http`) it implements beside it.

/// Expand, inside a version's bindings module, what [`every_version!`]
/// does, the `host` import, and `validate`, `score`, `on_event`,
/// `on_schedule` and `action`.
macro_rules! since_v0_2 {
    () => {
        super::common::every_version!();

        fn wit_error(e: host_api::HostError) -> types::HostError {
            types::HostError {
                code: e.code,
                message: e.message,
            }
        }

        impl crm::plugin::host::Host for StoreState {
            fn query(
                &mut self,
                query: String,
                variables: String,
            ) -> Result<String, types::HostError> {
                host_api::call(self, "query", |gate| {
                    graphql::query(gate, &query, &variables)
                })
                .map_err(wit_error)
            }

            fn mutate(
                &mut self,
                mutation: String,
                variables: String,
            ) -> Result<String, types::HostError> {
                host_api::call(self, "mutate", |gate| {
                    graphql::mutate(gate, &mutation, &variables)
                })
                .map_err(wit_error)
            }

            fn kv_get(&mut self, key: String) -> Result<Option<String>, types::HostError> {
                host_api::call(self, "kv-get", |gate| kv::get(gate, &key)).map_err(wit_error)
            }

            fn kv_set(&mut self, key: String, value: String) -> Result<(), types::HostError> {
                host_api::call(self, "kv-set", |gate| kv::set(gate, &key, &value))
                    .map_err(wit_error)
            }

            fn kv_delete(&mut self, key: String) -> Result<(), types::HostError> {
                host_api::call(self, "kv-delete", |gate| kv::delete(gate, &key)).map_err(wit_error)
            }

            fn config(&mut self) -> String {
                config::config(&self.host)
            }

            fn emit(&mut self, kind: String, payload: String) -> Result<(), types::HostError> {
                host_api::call(self, "emit", |gate| events::emit(gate, &kind, &payload))
                    .map_err(wit_error)
            }
        }

        fn context(ctx: &super::CallInput<'_>) -> types::CallContext {
            types::CallContext {
                tenant: ctx.tenant.to_owned(),
                entity: ctx.entity.to_owned(),
                config: ctx.config.to_owned(),
                function: ctx.function.to_owned(),
            }
        }

        fn handler_context(ctx: &HandlerInput<'_>) -> types::HandlerContext {
            types::HandlerContext {
                tenant: ctx.tenant.to_owned(),
                config: ctx.config.to_owned(),
                now: ctx.now.to_owned(),
                name: ctx.name.to_owned(),
            }
        }

        pub(crate) fn on_event(
            pre: &PluginPre<StoreState>,
            store: &mut Store<StoreState>,
            input: &HandlerInput<'_>,
            event: &EventInput,
        ) -> wasmtime::Result<GuestOutcome<()>> {
            let plugin = pre.instantiate(&mut *store)?;
            let event = types::Event {
                id: event.id.clone(),
                kind: event.kind.clone(),
                entity: event.entity.clone(),
                record_id: event.record_id.clone(),
                payload: event.payload.clone(),
                created_at: event.created_at.clone(),
            };
            let out = plugin.crm_plugin_handlers().call_on_event(
                &mut *store,
                &handler_context(input),
                &event,
            )?;
            Ok(out.map_err(guest_error))
        }

        pub(crate) fn on_schedule(
            pre: &PluginPre<StoreState>,
            store: &mut Store<StoreState>,
            input: &HandlerInput<'_>,
        ) -> wasmtime::Result<GuestOutcome<()>> {
            let plugin = pre.instantiate(&mut *store)?;
            let out = plugin
                .crm_plugin_handlers()
                .call_on_schedule(&mut *store, &handler_context(input))?;
            Ok(out.map_err(guest_error))
        }

        pub(crate) fn action(
            pre: &PluginPre<StoreState>,
            store: &mut Store<StoreState>,
            input: &HandlerInput<'_>,
            action_input: &str,
        ) -> wasmtime::Result<GuestOutcome<String>> {
            let plugin = pre.instantiate(&mut *store)?;
            let out = plugin.crm_plugin_handlers().call_action(
                &mut *store,
                &handler_context(input),
                &action_input.to_owned(),
            )?;
            Ok(out.map_err(guest_error))
        }
    };
}

pub(crate) use since_v0_2;

/// Expand, inside any version's bindings module, its `add_to_linker` (all
/// of the world's imports), `pre`, the `log` import, and `validate` and
/// `score` (whose WIT is the same in every version but for the call
/// context, which the module's own `context` function builds).
macro_rules! every_version {
    () => {
        use crm::plugin::log::Level;
        use crm::plugin::types;

        /// Add this version's imports to a linker that already has WASI.
        pub(crate) fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
            Plugin::add_to_linker::<StoreState, HasSelf<StoreState>>(linker, |state| state)
        }

        pub(crate) fn pre(
            linker: &Linker<StoreState>,
            component: &Component,
        ) -> wasmtime::Result<PluginPre<StoreState>> {
            PluginPre::new(linker.instantiate_pre(component)?)
        }

        impl crm::plugin::types::Host for StoreState {}

        impl crm::plugin::log::Host for StoreState {
            fn log(&mut self, level: Level, message: String) {
                let level = match level {
                    Level::Trace => "trace",
                    Level::Debug => "debug",
                    Level::Info => "info",
                    Level::Warn => "warn",
                    Level::Error => "error",
                };
                self.log.push(level, &message);
            }
        }

        fn guest_error(e: types::PluginError) -> GuestError {
            GuestError {
                code: e.code,
                message: e.message,
            }
        }

        pub(crate) fn validate(
            pre: &PluginPre<StoreState>,
            store: &mut Store<StoreState>,
            input: &super::CallInput<'_>,
        ) -> wasmtime::Result<GuestOutcome<Vec<RawDecision>>> {
            let plugin = pre.instantiate(&mut *store)?;
            let out = plugin.crm_plugin_functions().call_validate(
                &mut *store,
                &context(input),
                input.records,
            )?;
            Ok(out.map_err(guest_error).map(|decisions| {
                decisions
                    .into_iter()
                    .map(|d| match d {
                        types::Decision::Accept => RawDecision::Accept,
                        types::Decision::Patch(patches) => RawDecision::Patch(
                            patches.into_iter().map(|p| (p.path, p.value)).collect(),
                        ),
                        types::Decision::Reject(errors) => RawDecision::Reject(
                            errors
                                .into_iter()
                                .map(|e| PluginFieldError {
                                    path: e.path,
                                    code: e.code,
                                    message: e.message,
                                })
                                .collect(),
                        ),
                    })
                    .collect()
            }))
        }

        pub(crate) fn score(
            pre: &PluginPre<StoreState>,
            store: &mut Store<StoreState>,
            input: &super::CallInput<'_>,
        ) -> wasmtime::Result<GuestOutcome<Vec<Vec<ScoreValue>>>> {
            let plugin = pre.instantiate(&mut *store)?;
            let out = plugin.crm_plugin_functions().call_score(
                &mut *store,
                &context(input),
                input.records,
            )?;
            Ok(out.map_err(guest_error).map(|records| {
                records
                    .into_iter()
                    .map(|scores| {
                        scores
                            .into_iter()
                            .map(|s| ScoreValue {
                                name: s.name,
                                value: s.value,
                                grade: s.grade,
                                reasons: s.reasons,
                            })
                            .collect()
                    })
                    .collect()
            }))
        }
    };
}

pub(crate) use every_version;
