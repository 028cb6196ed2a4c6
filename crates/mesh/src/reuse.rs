//! What one compile of a route table leaves for the next, so that a reload costs what
//! changed: the service registry while its inputs are the very same objects (the loader
//! shares unchanged objects between loads), each VirtualService's compiled routes, per
//! server, while it is the same object and the registry is kept, and each virtual host's
//! route index while its routes match what they matched.
//!
//! Compiling is pure: a table compiled with what was kept is the table compiled afresh
//! (`tests/reuse.rs` compares them).

use std::collections::HashMap;
use std::sync::Arc;

use sluice_api::istio::{DestinationRule, ServiceEntry, VirtualService};

use crate::cluster::Registry;
use crate::compile::{self, Server};
use crate::config::{Config, Proxy};
use crate::diagnostic::Diagnostic;
use crate::index::RouteIndex;
use crate::route::Route;
use crate::table::RouteTable;

/// Kept from the last compile (see the module docs). Start with `Reuse::default()`.
#[derive(Debug, Default)]
pub struct Reuse {
    registry: Option<Kept>,
    routes: Memo,
    indexes: Indexes,
}

/// Each virtual host's route index, by port, set of virtual hosts (plain or a TLS chain)
/// and domain, with the routes it indexes: an index depends only on what its routes match,
/// in their order, so it is kept while they match the same.
pub(crate) type Indexes =
    HashMap<((u16, usize), String), (Vec<Arc<Route>>, Arc<RouteIndex>), foldhash::fast::RandomState>;

/// Routes replaced by [`Reuse::patch`]: the new route for each old one, by its address.
pub(crate) type Swaps = HashMap<usize, Arc<Route>, foldhash::fast::RandomState>;

/// The registry and what it was built from.
#[derive(Debug)]
struct Kept {
    proxy: Proxy,
    entries: Vec<Arc<ServiceEntry>>,
    rules: Vec<Arc<DestinationRule>>,
    registry: Registry,
    diagnostics: Vec<Diagnostic>,
}

/// A VirtualService (by address: the `Arc` kept beside it keeps the address its own), the
/// port it was compiled for, check-only or not, and whether it reported problems. The
/// gateway is told apart in [`Routes`] (rarely more than one per key), so a lookup
/// allocates nothing.
type Key = (usize, u16, bool, bool);

/// Routes compiled, by what they were compiled from.
type Memo = HashMap<Key, Vec<Routes>, foldhash::fast::RandomState>;

/// A VirtualService's routes for one server, with the problems reported compiling them.
#[derive(Debug)]
struct Routes {
    virtual_service: Arc<VirtualService>,
    gateway: String,
    routes: Vec<Arc<Route>>,
    diagnostics: Vec<Diagnostic>,
}

/// One compile under way: the registry to resolve destinations with, and the routes
/// compiled so far (for the next compile).
#[derive(Debug)]
pub(crate) struct Compiling {
    pub(crate) registry: Registry,
    kept: Kept,
    previous: Memo,
    next: Memo,
    previous_indexes: Indexes,
    next_indexes: Indexes,
}

fn same<T>(a: &[Arc<T>], b: &[Arc<T>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(a, b)| Arc::ptr_eq(a, b))
}

impl Reuse {
    /// Start compiling `config` for `proxy`: the registry kept if built from the same
    /// objects (its problems pushed again), built otherwise.
    pub(crate) fn start(
        &mut self,
        proxy: &Proxy,
        config: &Config,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Compiling {
        let unchanged = |k: &Kept| {
            k.proxy == *proxy
                && same(&k.entries, &config.service_entries)
                && same(&k.rules, &config.destination_rules)
        };
        match self.registry.take().filter(unchanged) {
            Some(mut kept) => {
                diagnostics.extend(kept.diagnostics.iter().cloned());
                Compiling {
                    registry: std::mem::take(&mut kept.registry),
                    kept,
                    next: Memo::with_capacity_and_hasher(self.routes.len(), Default::default()),
                    previous: std::mem::take(&mut self.routes),
                    previous_indexes: std::mem::take(&mut self.indexes),
                    next_indexes: Indexes::default(),
                }
            }
            None => {
                let mut built = Vec::new();
                let registry = Registry::build(
                    proxy,
                    &config.service_entries,
                    &config.destination_rules,
                    &mut built,
                );
                diagnostics.extend(built.iter().cloned());
                // Routes resolved their destinations in the old registry: none is kept.
                self.routes.clear();
                Compiling {
                    registry,
                    kept: Kept {
                        proxy: proxy.clone(),
                        entries: config.service_entries.clone(),
                        rules: config.destination_rules.clone(),
                        registry: Registry::default(),
                        diagnostics: built,
                    },
                    previous: Memo::default(),
                    next: Memo::default(),
                    previous_indexes: std::mem::take(&mut self.indexes),
                    next_indexes: Indexes::default(),
                }
            }
        }
    }

    /// Keep what `compiling` built for the next compile.
    pub(crate) fn finish(&mut self, compiling: Compiling) {
        let Compiling {
            registry,
            mut kept,
            next,
            next_indexes,
            ..
        } = compiling;
        kept.registry = registry;
        self.registry = Some(kept);
        self.routes = next;
        self.indexes = next_indexes;
    }
}

impl Reuse {
    /// `last`, the table the last compile with this `Reuse` made, with VirtualServices
    /// replaced (`(old, new)` pairs) when each changed only its routes: the same metadata,
    /// hosts, gateways and `exportTo`, no TCP or TLS routes, and new routes that compile
    /// without problems, as many as before, each a catch-all where the one it replaces was
    /// (so each takes its place in the virtual hosts' order). `None` otherwise, and nothing
    /// kept changes but the registry's cache of resolved destinations (which resolve the
    /// same either way): compile the configuration ([`RouteTable::compile_reusing`]).
    ///
    /// The table is the one a compile of the configuration with the replacements makes
    /// (`tests/reuse.rs` compares them). Only the replaced VirtualServices are compiled;
    /// the table is copied (its virtual hosts' route lists are lists of pointers) and only
    /// the virtual hosts they route are changed. Each object must be in one place of the
    /// configuration (the loader reads a document written twice twice).
    pub fn patch(
        &mut self,
        proxy: &Proxy,
        last: &RouteTable,
        replaced: &[(Arc<VirtualService>, Arc<VirtualService>)],
    ) -> Option<RouteTable> {
        let Reuse {
            registry,
            routes: memo,
            indexes,
        } = self;
        let kept = registry.as_mut().filter(|k| k.proxy == *proxy)?;
        let mut swaps = Swaps::default();
        let mut made_now = Vec::new();
        let mut made_before = Vec::new();
        for (old, new) in replaced {
            if !only_routes_differ(old, new) {
                return None;
            }
            let address = Arc::as_ptr(old) as usize;
            // Every server it was compiled for (and its check), with what it made there.
            for (&key, made) in memo.iter().filter(|(key, _)| key.0 == address) {
                let (_, port, check_only, report) = key;
                made_before.push(key);
                for before in made {
                    let server = Server {
                        gateway: &before.gateway,
                        port,
                        proxy,
                        check_only,
                    };
                    let mut problems = Vec::new();
                    let mut routes = compile::routes(new, &server, &mut kept.registry, &mut problems, report);
                    if check_only {
                        routes = Vec::new();
                    }
                    if !problems.is_empty()
                        || !before.diagnostics.is_empty()
                        || routes.len() != before.routes.len()
                    {
                        return None;
                    }
                    for (was, now) in before.routes.iter().zip(&routes) {
                        if was.matcher.is_catch_all() != now.matcher.is_catch_all() {
                            return None;
                        }
                        swaps.insert(Arc::as_ptr(was) as usize, now.clone());
                    }
                    made_now.push((
                        (Arc::as_ptr(new) as usize, port, check_only, report),
                        Routes {
                            virtual_service: new.clone(),
                            gateway: before.gateway.clone(),
                            routes,
                            diagnostics: Vec::new(),
                        },
                    ));
                }
            }
        }
        let table = last.with_routes_swapped(&swaps, indexes);
        for key in made_before {
            memo.remove(&key);
        }
        for (key, routes) in made_now {
            memo.entry(key).or_default().push(routes);
        }
        Some(table)
    }
}

/// `new` differs from `old` at most in its HTTP routes: it is bound to the same servers,
/// for the same hosts, in the same place of Istio's order.
fn only_routes_differ(old: &VirtualService, new: &VirtualService) -> bool {
    old.api_version == new.api_version
        && old.metadata == new.metadata
        && old.spec.hosts == new.spec.hosts
        && old.spec.gateways == new.spec.gateways
        && old.spec.export_to == new.spec.export_to
        && [old, new]
            .iter()
            .all(|vs| vs.spec.tcp.is_empty() && vs.spec.tls.is_empty())
}

impl Compiling {
    /// The index of the routes of the virtual host `domain` of `chain` (a port, and 0 for
    /// its plain virtual hosts or n for its nth TLS chain's): the last compile's when its
    /// routes matched what these match, in the same order, built otherwise.
    pub(crate) fn index(
        &mut self,
        chain: (u16, usize),
        domain: &str,
        routes: &[Arc<Route>],
    ) -> Arc<RouteIndex> {
        let key = (chain, domain.to_string());
        let same_matches = |(kept, _): &(Vec<Arc<Route>>, Arc<RouteIndex>)| {
            kept.len() == routes.len()
                && kept
                    .iter()
                    .zip(routes)
                    .all(|(a, b)| Arc::ptr_eq(a, b) || a.matcher == b.matcher)
        };
        let index = match self.previous_indexes.remove(&key).filter(same_matches) {
            Some((_, index)) => index,
            None => Arc::new(RouteIndex::build(routes.iter().map(|r| &r.matcher))),
        };
        self.next_indexes.insert(key, (routes.to_vec(), index.clone()));
        index
    }

    /// [`compile::routes`] of `vs` for `server`, or what an earlier compile made of the
    /// same object for the same server (its problems pushed again when `report`). A
    /// check-only compile gives and keeps only its problems: its routes serve no request.
    pub(crate) fn routes(
        &mut self,
        vs: &Arc<VirtualService>,
        server: &Server<'_>,
        diagnostics: &mut Vec<Diagnostic>,
        report: bool,
    ) -> Vec<Arc<Route>> {
        let key: Key = (Arc::as_ptr(vs) as usize, server.port, server.check_only, report);
        let made_for = |r: &Routes| Arc::ptr_eq(&r.virtual_service, vs) && r.gateway == server.gateway;
        let (routes, problems) = if let Some(made) = self
            .next
            .get(&key)
            .and_then(|all| all.iter().find(|r| made_for(r)))
        {
            (made.routes.clone(), made.diagnostics.clone())
        } else if let Some(kept) = self.previous.get_mut(&key).and_then(|all| {
            let found = all.iter().position(made_for)?;
            Some(all.swap_remove(found))
        }) {
            let found = (kept.routes.clone(), kept.diagnostics.clone());
            self.next
                .entry(key)
                .or_insert_with(|| Vec::with_capacity(1))
                .push(kept);
            found
        } else {
            let mut problems = Vec::new();
            let mut routes = compile::routes(vs, server, &mut self.registry, &mut problems, report);
            if server.check_only {
                routes = Vec::new();
            }
            self.next
                .entry(key)
                .or_insert_with(|| Vec::with_capacity(1))
                .push(Routes {
                    virtual_service: vs.clone(),
                    gateway: server.gateway.to_string(),
                    routes: routes.clone(),
                    diagnostics: problems.clone(),
                });
            (routes, problems)
        };
        diagnostics.extend(problems);
        routes
    }
}
