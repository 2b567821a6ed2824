//! locate (helm): the Helm values key whose value lands on a given field of a rendered object,
//! found by differential rendering (change candidate keys, render, see which output field
//! moved). Templates are never read.
//!
//! Takes the chart's values layers in precedence order (the chart's `values.yaml`, each `-f`
//! file, then inline values such as a Flux HelmRelease's `spec.values` or an Argo CD
//! Application's Helm values), a render function, and the target object and field; gives the
//! layer and key to edit ([`HelmSite`]) or why there is none ([`NoSite`]). The render function
//! is the only I/O and belongs to the caller: this module never runs helm itself. Every render
//! is cached by its extra values, so all the findings of one chart share renders.
//!
//! How a site is found:
//! - a field rendered with a scalar value: every leaf of the merged values is changed, strings
//!   (and nulls) to a marker `redress-probe-<n>`, numbers to a distinct number, all in one
//!   render; the markers found in the field name the key. Booleans cannot be told apart in a
//!   batch: they are negated together (those equal to the field first) and bisected. A batch
//!   whose render fails, or that hides the target or the field, is split in halves. Each key
//!   found is confirmed alone; the one that moves the fewest other rendered fields wins.
//! - a missing field (or a map or list field the fix adds below): every values map (empty
//!   maps and null keys too) gets a key `redressProbe: redress-probe-<n>` in one render
//!   (bisected on failure), which shows which map each template renders where. This batch is
//!   done once per chart. The field's ancestors, from its parent up to its container item, pod
//!   spec or object root, are tried deepest first; a map rendered directly under one of them,
//!   confirmed alone, gives the key `map path + the rest of the field path`.
//!
//! The site's layer is the highest-precedence layer that defines the key (for a map site, the
//! map), else the chart's own values (layer 0).

mod output;
mod values;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::model::{lookup, pointer_segments};
use crate::patch::Seg;
use output::{Landing, MARKER, PROBE_KEY, find_target, holds_number, markers_in};

/// One values layer. Layers are given in precedence order, lowest first: the chart's
/// `values.yaml`, then each `-f` file, then inline values (a Flux HelmRelease's
/// `spec.values`, an Argo CD Application's Helm values or parameters).
#[derive(Clone, Debug, PartialEq)]
pub struct ValuesLayer {
    /// What the layer is, for reports (a file path, `HelmRelease flux-system/podinfo`).
    pub label: String,
    /// The layer's values tree.
    pub values: Value,
}

/// Which rendered object a finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target<'a> {
    /// The object's kind, such as `Deployment`.
    pub kind: &'a str,
    /// The namespace; `None` (or empty) when it is left to namespace defaulting.
    pub namespace: Option<&'a str>,
    /// The object's name.
    pub name: &'a str,
}

/// Where a rendered field comes from in the values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HelmSite {
    /// Index of the layer to edit in the layers the probe was built with.
    pub layer: usize,
    /// The path in that layer's values.
    pub key: Vec<Seg>,
    /// The JSON pointer in the rendered object that `key` corresponds to: the field itself
    /// for a scalar, the ancestor a values map renders into for a missing field.
    pub rendered_base: String,
    /// Whether `key` is already present in that layer (else the edit adds it).
    pub defined: bool,
}

/// Why no values key reaches a field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct NoSite {
    /// The reason, for a report.
    pub reason: String,
}

/// Renders the chart with the given extra values documents layered after all the probe's
/// layers, and gives the rendered objects (or the render error's text).
pub type RenderFn<'r> = dyn FnMut(&[Value]) -> Result<Vec<Value>, String> + 'r;

/// The outcome of one render, shared between the findings of a chart.
type Rendered = Result<Arc<Vec<Value>>, String>;

/// Number markers: `NUMBER_BASE + NUMBER_STEP * n`. They stay below 1e6 because Helm renders
/// numbers from `-f` files as floats, and larger ones print with an exponent; the step keeps a
/// marker plus a small offset (`add .Values.x 1`) from looking like another marker.
const NUMBER_BASE: u64 = 100_007;
const NUMBER_STEP: u64 = 10;
const NUMBER_LIMIT: usize = 89_999;

/// At most this many keys found in batches are confirmed one by one for one field.
const MAX_CONFIRM: usize = 8;

/// How a leaf is changed for a probe.
#[derive(Clone, Copy, Debug)]
enum Change {
    /// To the string marker `redress-probe-<n>`.
    Marker(usize),
    /// To this distinct number.
    Number(u64),
    /// To the number plus one (too many numbers for distinct markers).
    Bump,
    /// A boolean, negated: it cannot be told apart from other booleans in a batch.
    Negate,
}

/// A scalar of the merged values that a probe may change.
#[derive(Clone, Debug)]
struct Leaf {
    path: Vec<Seg>,
    value: Value,
    change: Change,
}

impl Leaf {
    fn new(index: usize, path: Vec<Seg>, value: Value) -> Leaf {
        let change = match &value {
            Value::Bool(_) => Change::Negate,
            Value::Number(_) if index < NUMBER_LIMIT => {
                Change::Number(NUMBER_BASE + NUMBER_STEP * index as u64)
            }
            Value::Number(_) => Change::Bump,
            _ => Change::Marker(index),
        };
        Leaf {
            path,
            value,
            change,
        }
    }

    /// The value the probe sets.
    fn probe(&self) -> Value {
        match self.change {
            Change::Marker(n) => json!(format!("{MARKER}{n}")),
            Change::Number(number) => json!(number),
            Change::Bump => bumped(&self.value),
            Change::Negate => json!(!self.value.as_bool().unwrap_or(false)),
        }
    }

    /// Whether a rendered value carries this leaf's marker.
    fn marks(&self, rendered: &Value) -> bool {
        match self.change {
            Change::Marker(n) => rendered
                .as_str()
                .is_some_and(|text| markers_in(text).contains(&n)),
            Change::Number(number) => {
                rendered.as_f64() == Some(number as f64)
                    || rendered
                        .as_str()
                        .is_some_and(|text| holds_number(text, number))
            }
            Change::Bump | Change::Negate => false,
        }
    }

    /// Whether the field went from `base` to `rendered` because this leaf alone changed.
    fn moved(&self, base: &Value, rendered: &Value) -> bool {
        self.marks(rendered)
            || match self.change {
                Change::Number(_) | Change::Bump => {
                    base.is_number() && rendered.is_number() && base != rendered
                }
                Change::Negate => matches!(
                    (truth(base), truth(rendered)),
                    (Some(a), Some(b)) if a != b
                ),
                Change::Marker(_) => false,
            }
    }
}

/// A number plus one (an integer stays an integer).
fn bumped(value: &Value) -> Value {
    match (value.as_i64(), value.as_f64()) {
        (Some(int), _) => json!(int.saturating_add(1)),
        (None, Some(float)) => json!(float + 1.0),
        (None, None) => json!(1),
    }
}

/// A boolean, or a string that reads as one.
fn truth(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(text) => match text.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Whether a values scalar reads the same as a rendered one (`8080` and `"8080"` do).
fn same_text(value: &Value, rendered: &Value) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.as_f64().map_or_else(|| n.to_string(), |f| f.to_string())),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    text(value).is_some_and(|t| Some(t) == text(rendered))
}

/// What one render shows of the target field.
enum Seen {
    /// The render failed.
    Failed,
    /// The target object or the field is not there.
    Gone,
    /// The field's value.
    At(Value),
}

fn see(rendered: &Rendered, target: &Target, field: &str) -> Seen {
    let Ok(objects) = rendered else {
        return Seen::Failed;
    };
    match find_target(objects, target).and_then(|object| lookup(object, field)) {
        Some(value) => Seen::At(value.clone()),
        None => Seen::Gone,
    }
}

/// `Deployment web` or `Deployment prod/web`.
fn describe(target: &Target) -> String {
    match target.namespace.filter(|ns| !ns.is_empty()) {
        Some(ns) => format!("{} {ns}/{}", target.kind, target.name),
        None => format!("{} {}", target.kind, target.name),
    }
}

/// The part of the object a fix below `field` stays inside: its container item, else its pod
/// spec, else the object root.
fn subject(kind: &str, field: &str) -> String {
    let segs: Vec<&str> = field.split('/').collect();
    let container = (1..segs.len()).rev().find(|&i| {
        matches!(
            segs[i - 1],
            "containers" | "initContainers" | "ephemeralContainers"
        ) && segs[i].parse::<usize>().is_ok()
    });
    let pod_spec = || {
        (1..segs.len())
            .rev()
            .find(|&i| segs[i - 1] == "template" && segs[i] == "spec")
    };
    match container.or_else(pod_spec) {
        Some(i) => segs[..=i].join("/"),
        None if kind == "Pod" && segs.get(1) == Some(&"spec") => "/spec".to_string(),
        None => String::new(),
    }
}

/// The pointers from `start` up to `limit`, deepest first. `limit` applies only when it
/// contains `start`; otherwise the walk goes up to the object root.
fn ancestors(start: &str, limit: &str) -> Vec<String> {
    let inside = start == limit || start.starts_with(&format!("{limit}/"));
    let limit = if inside { limit } else { "" };
    let mut out = vec![start.to_string()];
    let mut current = start;
    while current != limit && !current.is_empty() {
        current = current.rfind('/').map_or("", |at| &current[..at]);
        out.push(current.to_string());
    }
    out
}

/// The path of `field` below `base` as values segments: numbers are list indexes where the
/// rendered object has a list, keys everywhere else.
fn rest_below(object: &Value, base: &str, field: &str) -> Vec<Seg> {
    let rest = field.strip_prefix(base).unwrap_or_default();
    let mut node = lookup(object, base);
    pointer_segments(rest)
        .into_iter()
        .map(|seg| {
            let (step, next) = match node {
                Some(Value::Array(items)) => match seg.parse::<usize>() {
                    Ok(index) => (Seg::Index(index), items.get(index)),
                    Err(_) => (Seg::Key(seg), None),
                },
                Some(Value::Object(map)) => {
                    let next = map.get(&seg);
                    (Seg::Key(seg), next)
                }
                _ => (Seg::Key(seg), None),
            };
            node = next;
            step
        })
        .collect()
}

/// Finds the values keys behind the fields of one chart's rendered objects. Built once per
/// chart and layers, and reused for every finding of that chart: renders are cached by their
/// extra values, and the map probe runs once.
#[derive(Debug)]
pub struct HelmProbe {
    layers: Vec<ValuesLayer>,
    merged: Value,
    leaves: Vec<Leaf>,
    maps: Vec<Vec<Seg>>,
    cache: HashMap<String, Rendered>,
    renders: usize,
    /// Per values map, where its probe key rendered (the map batch, run once).
    landings: Option<Vec<Vec<Landing>>>,
}

impl HelmProbe {
    /// A probe for a chart whose values are `layers`, lowest precedence first. Layers that are
    /// not maps (an empty file) add nothing.
    pub fn new(layers: Vec<ValuesLayer>) -> HelmProbe {
        let mut merged = Value::Object(Map::new());
        for layer in layers.iter().filter(|layer| layer.values.is_object()) {
            crate::locate::tracking::merge_values(&mut merged, &layer.values);
        }
        let leaves = values::leaves(&merged)
            .into_iter()
            .enumerate()
            .map(|(index, (path, value))| Leaf::new(index, path, value))
            .collect();
        let maps = values::maps(&merged);
        HelmProbe {
            layers,
            merged,
            leaves,
            maps,
            cache: HashMap::new(),
            renders: 0,
            landings: None,
        }
    }

    /// The layers the probe was built with.
    pub fn layers(&self) -> &[ValuesLayer] {
        &self.layers
    }

    /// How many renders this probe has done (cached ones not counted again).
    pub fn renders(&self) -> usize {
        self.renders
    }

    /// Finds the values key that lands on `field` (a JSON pointer) of `target`. `render` must
    /// render this probe's chart and layers, with its argument's documents layered last; it
    /// must be the same chart and layers on every call, since renders are cached.
    pub fn find_site(
        &mut self,
        render: &mut RenderFn,
        target: &Target,
        field: &str,
    ) -> Result<HelmSite, NoSite> {
        let baseline = self
            .render_doc(render, Value::Object(Map::new()))
            .map_err(|error| NoSite {
                reason: format!("the chart does not render with its values: {error}"),
            })?;
        let Some(object) = find_target(&baseline, target) else {
            return Err(NoSite {
                reason: format!("the chart renders no {}", describe(target)),
            });
        };
        let parent = field.rfind('/').map_or("", |at| &field[..at]);
        match lookup(object, field) {
            Some(Value::Null) => self
                .find_scalar(render, &baseline, target, field, &Value::Null)
                .or_else(|_| self.find_map(render, object, target, field, parent)),
            Some(Value::Object(_)) => self.find_map(render, object, target, field, field),
            Some(Value::Array(_)) | None => self.find_map(render, object, target, field, parent),
            Some(scalar) => self.find_scalar(render, &baseline, target, field, scalar),
        }
    }

    /// Renders with `doc` as the one extra values document (none when it is empty), or gives
    /// the cached outcome of that render.
    fn render_doc(&mut self, render: &mut RenderFn, doc: Value) -> Rendered {
        let extra = match &doc {
            Value::Object(map) if map.is_empty() => Vec::new(),
            _ => vec![doc],
        };
        let key = Value::Array(extra.clone()).to_string();
        if let Some(hit) = self.cache.get(&key) {
            return hit.clone();
        }
        self.renders += 1;
        let outcome = render(&extra).map(Arc::new);
        self.cache.insert(key, outcome.clone());
        outcome
    }

    /// The extra values that change the leaves `chosen`.
    fn leaf_doc(&self, chosen: &[usize]) -> Value {
        let mut doc = Value::Object(Map::new());
        for leaf in chosen.iter().filter_map(|&i| self.leaves.get(i)) {
            values::set_sparse(&mut doc, &self.merged, &leaf.path, leaf.probe());
        }
        doc
    }

    /// The extra values that add the probe key into the maps `chosen`.
    fn map_doc(&self, chosen: &[usize]) -> Value {
        let mut doc = Value::Object(Map::new());
        for &m in chosen {
            let Some(map) = self.maps.get(m) else {
                continue;
            };
            let mut path = map.clone();
            path.push(Seg::Key(PROBE_KEY.to_string()));
            values::set_sparse(&mut doc, &self.merged, &path, json!(format!("{MARKER}{m}")));
        }
        doc
    }

    /// The highest-precedence layer that has a value at `path`.
    fn defining_layer(&self, path: &[Seg]) -> Option<usize> {
        self.layers
            .iter()
            .rposition(|layer| values::get(&layer.values, path).is_some())
    }

    fn find_scalar(
        &mut self,
        render: &mut RenderFn,
        baseline: &[Value],
        target: &Target,
        field: &str,
        base: &Value,
    ) -> Result<HelmSite, NoSite> {
        let (negated, marked): (Vec<usize>, Vec<usize>) =
            (0..self.leaves.len()).partition(|&i| matches!(self.leaves[i].change, Change::Negate));
        let mut movers = self.search(render, &marked, target, field, base);
        if movers.is_empty() {
            let (same, other): (Vec<usize>, Vec<usize>) = negated
                .into_iter()
                .partition(|&i| same_text(&self.leaves[i].value, base));
            movers = self.search(render, &same, target, field, base);
            if movers.is_empty() {
                movers = self.search(render, &other, target, field, base);
            }
        }
        movers.sort_by_key(|&i| (!same_text(&self.leaves[i].value, base), i));
        movers.dedup();
        let mut best: Option<(usize, usize)> = None;
        for &i in movers.iter().take(MAX_CONFIRM) {
            let Some(objects) = self.probe_one(render, i, target, field, base) else {
                continue;
            };
            let blast = output::changes(baseline, &objects, target, field);
            if best.is_none_or(|(fewest, _)| blast < fewest) {
                best = Some((blast, i));
            }
            if blast == 0 {
                break;
            }
        }
        let Some((_, i)) = best else {
            return Err(NoSite {
                reason: format!(
                    "no values key reaches {field} of {}: the template writes it literally, \
                     or from values a probe cannot change",
                    describe(target)
                ),
            });
        };
        let key = self.leaves[i].path.clone();
        let layer = self.defining_layer(&key);
        Ok(HelmSite {
            layer: layer.unwrap_or(0),
            key,
            rendered_base: field.to_string(),
            defined: layer.is_some(),
        })
    }

    /// The leaves among `chosen` whose change moves the field from `base`, found by one
    /// render of all of them, split in halves when that render cannot tell.
    fn search(
        &mut self,
        render: &mut RenderFn,
        chosen: &[usize],
        target: &Target,
        field: &str,
        base: &Value,
    ) -> Vec<usize> {
        match chosen {
            [] => return Vec::new(),
            [only] => {
                let moved = self.probe_one(render, *only, target, field, base);
                return moved.map(|_| vec![*only]).unwrap_or_default();
            }
            _ => {}
        }
        let rendered = self.render_doc(render, self.leaf_doc(chosen));
        match see(&rendered, target, field) {
            Seen::At(value) if value == *base => return Vec::new(),
            Seen::At(value) => {
                let hits: Vec<usize> = chosen
                    .iter()
                    .copied()
                    .filter(|&i| self.leaves[i].marks(&value))
                    .collect();
                if !hits.is_empty() {
                    return hits;
                }
            }
            Seen::Failed | Seen::Gone => {}
        }
        let (left, right) = chosen.split_at(chosen.len() / 2);
        let mut found = self.search(render, left, target, field, base);
        found.extend(self.search(render, right, target, field, base));
        found
    }

    /// Renders leaf `i` changed alone; gives the rendered objects when that moves the field
    /// from `base`. A number whose marker breaks the render or hides the field (a range
    /// check) is tried again with its value plus one.
    fn probe_one(
        &mut self,
        render: &mut RenderFn,
        i: usize,
        target: &Target,
        field: &str,
        base: &Value,
    ) -> Option<Arc<Vec<Value>>> {
        let leaf = self.leaves.get(i)?.clone();
        let mut tries = vec![leaf.probe()];
        if matches!(leaf.change, Change::Number(_)) {
            tries.push(bumped(&leaf.value));
        }
        for value in tries {
            let mut doc = Value::Object(Map::new());
            values::set_sparse(&mut doc, &self.merged, &leaf.path, value);
            let rendered = self.render_doc(render, doc);
            if let Seen::At(now) = see(&rendered, target, field) {
                return rendered.ok().filter(|_| leaf.moved(base, &now));
            }
        }
        None
    }

    fn find_map(
        &mut self,
        render: &mut RenderFn,
        object: &Value,
        target: &Target,
        field: &str,
        start: &str,
    ) -> Result<HelmSite, NoSite> {
        let ancestors = ancestors(start, &subject(target.kind, field));
        let landings = self.map_landings(render);
        let at = |landing: &Landing, under: &str| {
            landing.under == under && landing.object.matches(target).is_some()
        };
        for under in &ancestors {
            let mut found: Vec<(usize, usize)> = landings
                .iter()
                .enumerate()
                .filter(|(_, spots)| spots.iter().any(|spot| at(spot, under)))
                .map(|(m, spots)| (spots.len(), m))
                .collect();
            found.sort_unstable();
            for (_, m) in found {
                let Ok(objects) = self.render_doc(render, self.map_doc(&[m])) else {
                    continue;
                };
                let confirmed = output::probe_landings(&objects)
                    .iter()
                    .any(|(n, spot)| *n == m && at(spot, under));
                if !confirmed {
                    continue;
                }
                let map = &self.maps[m];
                let mut key = map.clone();
                key.extend(rest_below(object, under, field));
                let layer = self.defining_layer(map).unwrap_or(0);
                let defined = self
                    .layers
                    .get(layer)
                    .is_some_and(|l| values::get(&l.values, &key).is_some());
                return Ok(HelmSite {
                    layer,
                    key,
                    rendered_base: under.clone(),
                    defined,
                });
            }
        }
        let places: Vec<&str> = ancestors
            .iter()
            .map(|a| if a.is_empty() { "/" } else { a.as_str() })
            .collect();
        Err(NoSite {
            reason: format!(
                "no values key reaches {field} of {}: no values map renders into {}",
                describe(target),
                places.join(", ")
            ),
        })
    }

    /// Where each values map's probe key renders; computed by the first call, then reused.
    fn map_landings(&mut self, render: &mut RenderFn) -> Vec<Vec<Landing>> {
        if let Some(landings) = &self.landings {
            return landings.clone();
        }
        let mut landings = vec![Vec::new(); self.maps.len()];
        let all: Vec<usize> = (0..self.maps.len()).collect();
        self.sweep_maps(render, &all, &mut landings);
        self.landings = Some(landings.clone());
        landings
    }

    /// Probes the maps `chosen` in one render, split in halves while it fails.
    fn sweep_maps(
        &mut self,
        render: &mut RenderFn,
        chosen: &[usize],
        landings: &mut [Vec<Landing>],
    ) {
        if chosen.is_empty() {
            return;
        }
        match self.render_doc(render, self.map_doc(chosen)) {
            Ok(objects) => {
                for (n, landing) in output::probe_landings(&objects) {
                    if chosen.binary_search(&n).is_ok()
                        && let Some(spots) = landings.get_mut(n)
                    {
                        spots.push(landing);
                    }
                }
            }
            Err(_) if chosen.len() > 1 => {
                let (left, right) = chosen.split_at(chosen.len() / 2);
                self.sweep_maps(render, left, landings);
                self.sweep_maps(render, right, landings);
            }
            Err(_) => {}
        }
    }
}
