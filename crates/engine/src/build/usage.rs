//! What the build cache takes on disk. Each entry is an image whose top layer the step made
//! (a configuration-only step adds none: its image's top layer is its parent's). An entry's
//! size is that layer's, counted once for the first entry that holds it; an entry whose
//! layer a named (tagged or pulled by digest) image also has is `shared`: pruning the cache
//! would not free it, which is what `system df`'s reclaimable figure leaves out.

use std::collections::{HashMap, HashSet};

use berth_api::disk_usage::BuildCacheRecord;
use berth_image::Digest;

use super::CacheEntry;

/// Each image's layers, bottom first, as chain ids with their sizes.
pub(super) type ImageLayers = HashMap<Digest, berth_image::usage::Layers>;

/// The cache's entries as `GET /system/df` lists them, sized from `layers`; `named` holds
/// the chain ids of the layers of named images.
pub(super) fn records(
    entries: Vec<CacheEntry>,
    layers: &ImageLayers,
    named: &HashSet<Digest>,
) -> Vec<BuildCacheRecord> {
    let time = |secs: u64| berth_image::time::format(secs as i64);
    let mut counted = HashSet::new();
    entries
        .into_iter()
        .map(|e| {
            let top = layers.get(&e.image).and_then(|l| l.last());
            let (size, shared) = match top {
                Some((chain, size)) if counted.insert(chain.clone()) => {
                    (*size, named.contains(chain))
                }
                // Scratch's, or counted for the entry that made it.
                _ => (0, false),
            };
            BuildCacheRecord {
                id: e.id,
                r#type: "regular".into(),
                description: e.description,
                in_use: false,
                shared,
                size: size as i64,
                created_at: time(e.created),
                last_used_at: Some(time(e.last_used)),
                usage_count: e.usage_count as i64,
            }
        })
        .collect()
}

/// The bytes of the layers in `before` that no image has in `after`.
pub(super) fn freed(before: &ImageLayers, after: &ImageLayers) -> u64 {
    let left: HashSet<&Digest> = after.values().flatten().map(|(chain, _)| chain).collect();
    let gone: HashMap<&Digest, u64> = before
        .values()
        .flatten()
        .filter(|(chain, _)| !left.contains(chain))
        .map(|(chain, size)| (chain, *size))
        .collect();
    gone.values().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(name: &str) -> Digest {
        berth_image::digest::sha256(name.as_bytes())
    }

    fn entry(id: &str, image: &str) -> CacheEntry {
        CacheEntry {
            id: id.into(),
            image: d(image),
            description: String::new(),
            created: 0,
            last_used: 0,
            usage_count: 1,
        }
    }

    #[test]
    fn each_layer_counts_once_and_named_layers_are_shared() {
        let layers: ImageLayers = HashMap::from([
            (d("base"), vec![(d("L0"), 100)]),
            (d("run"), vec![(d("L0"), 100), (d("L1"), 10)]),
            (d("env"), vec![(d("L0"), 100), (d("L1"), 10)]),
            (d("copy"), vec![(d("L0"), 100), (d("L1"), 10), (d("L2"), 5)]),
        ]);
        let named = HashSet::from([d("L0"), d("L1"), d("L2")]);
        let entries = vec![
            entry("run", "run"),
            entry("env", "env"),
            entry("copy", "copy"),
            entry("gone", "removed"),
        ];
        let sized: Vec<(i64, bool)> = records(entries.clone(), &layers, &HashSet::new())
            .iter()
            .map(|r| (r.size, r.shared))
            .collect();
        assert_eq!(sized, [(10, false), (0, false), (5, false), (0, false)]);
        let shared: Vec<bool> = records(entries, &layers, &named)
            .iter()
            .map(|r| r.shared)
            .collect();
        assert_eq!(shared, [true, false, true, false]);
    }

    #[test]
    fn freed_counts_layers_no_image_has_any_more() {
        let before: ImageLayers = HashMap::from([
            (d("a"), vec![(d("L0"), 100), (d("L1"), 10)]),
            (d("b"), vec![(d("L0"), 100), (d("L1"), 10), (d("L2"), 5)]),
        ]);
        let after: ImageLayers = HashMap::from([(d("a"), vec![(d("L0"), 100), (d("L1"), 10)])]);
        assert_eq!(freed(&before, &after), 5);
        assert_eq!(freed(&before, &HashMap::new()), 115);
    }
}
