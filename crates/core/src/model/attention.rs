//! Which attention path a case runs, decided once in the parent from
//! `--attention` and the paths the backend offers, and how much of the
//! scores each path keeps in memory (for the memory estimate).

use std::cell::Cell;

use crate::model::case::{AttentionChoice, AttentionPath, AttentionPlan};
use crate::model::workload::ModelConfig;

/// Bytes of f32 attention scores one query tile may hold by default (every
/// batch row and head of the tile at once): 64 MiB keeps a tile's scores and
/// probabilities well inside a CPU's memory while each tile's matmuls stay
/// large enough to run at full speed.
pub const TILE_SCORE_BYTES: u64 = 64 << 20;

/// Query rows per tile so that one tile's f32 scores `[B, H, rows, S_k]` stay
/// within `budget` bytes: at least one row.
pub fn query_tile_rows(batch_heads: usize, kv_len: usize, budget: u64) -> usize {
    let row_bytes = (batch_heads as u64 * kv_len as u64 * 4).max(1);
    ((budget / row_bytes) as usize).max(1)
}

/// Bytes of the f32 scores of a self-attention over the whole batch at once.
pub fn self_attention_score_bytes(config: &ModelConfig) -> u64 {
    let (heads, tokens) = match config {
        ModelConfig::Wan(c) => (c.num_heads, c.tokens_per_sample()),
        ModelConfig::Llama(c) => (c.num_attention_heads, c.seq_len),
        ModelConfig::Umt5(c) => (c.num_heads, c.text_len),
        // One head over one latent frame's positions at a time (a chunk
        // holds one latent frame where the middle attention runs).
        ModelConfig::WanVae(c) => (1, c.latent_shape()[1] * c.latent_shape()[2]),
    };
    config.batch() as u64 * heads as u64 * (tokens as u64).pow(2) * 4
}

/// How much of the attention scores a path keeps alive during a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreMemory {
    /// Every score and probability of a layer exists at once (and in
    /// training, every layer's probabilities are kept for the backward pass).
    Full,
    /// One tile's scores and probabilities at a time (`tile_score_bytes`).
    Tile,
    /// The framework's kernel keeps no S x S tensor (flash or
    /// memory-efficient attention; a backward that recomputes them).
    None,
}

/// Score memory of a path written with the framework's ops: composite keeps
/// every score; tiled keeps one tile in inference, but training keeps every
/// tile's probabilities for the backward pass.
pub fn written_path_memory(path: AttentionPath, train: bool) -> ScoreMemory {
    match (path, train) {
        (AttentionPath::Composite, _) | (AttentionPath::Tiled, true) => ScoreMemory::Full,
        (AttentionPath::Tiled, false) => ScoreMemory::Tile,
        (AttentionPath::Fused, _) => ScoreMemory::None,
    }
}

/// The plan for `choice` given the paths a backend offers (best first) and
/// the workload: `auto` takes the first offered path, except that a
/// composite path whose scores exceed the tile budget gives way to the tiled
/// one. An explicit choice is kept as asked; whether the backend offers it is
/// checked where the case would run (it is skipped with the reason).
pub fn plan(
    choice: AttentionChoice,
    offered: &[AttentionPath],
    config: &ModelConfig,
    tile_score_bytes: u64,
) -> AttentionPlan {
    let path = match choice {
        AttentionChoice::Composite => AttentionPath::Composite,
        AttentionChoice::Tiled => AttentionPath::Tiled,
        AttentionChoice::Fused => AttentionPath::Fused,
        AttentionChoice::Auto => {
            let best = offered.first().copied().unwrap_or(AttentionPath::Composite);
            let too_big = self_attention_score_bytes(config) > tile_score_bytes;
            if best == AttentionPath::Composite
                && too_big
                && offered.contains(&AttentionPath::Tiled)
            {
                AttentionPath::Tiled
            } else {
                best
            }
        }
    };
    AttentionPlan {
        path,
        tile_score_bytes,
    }
}

/// What a model's attention ran, kept by every backend for the recorded
/// path: whether any call ran (a model without blocks runs none) and the
/// fewest query rows per tile of the calls that tiled.
#[derive(Debug)]
pub struct AttentionRecord {
    pub plan: AttentionPlan,
    ran: Cell<bool>,
    tile_rows: Cell<Option<usize>>,
}

/// The recorded path of a model that ran no attention.
pub const NO_ATTENTION: &str = "none: no attention ran (a model without blocks)";

impl AttentionRecord {
    pub fn new(plan: AttentionPlan) -> Self {
        AttentionRecord {
            plan,
            ran: Cell::new(false),
            tile_rows: Cell::new(None),
        }
    }

    /// Note a call over `batch_heads` x `s_q` queries and `s_k` keys; the
    /// rows per tile when the plan tiles and the scores need more than one
    /// tile, `None` when the call runs whole.
    pub fn call(&self, batch_heads: usize, s_q: usize, s_k: usize) -> Option<usize> {
        self.ran.set(true);
        if self.plan.path != AttentionPath::Tiled {
            return None;
        }
        let rows = query_tile_rows(batch_heads, s_k, self.plan.tile_score_bytes);
        if rows >= s_q {
            return None;
        }
        let fewest = self.tile_rows.get().map_or(rows, |r| r.min(rows));
        self.tile_rows.set(Some(fewest));
        Some(rows)
    }

    /// Forget the calls so far: they were not timed (a decode case's
    /// prefill of its cache), so the record describes the timed steps.
    pub fn forget(&self) {
        self.ran.set(false);
        self.tile_rows.set(None);
    }

    /// Which path ran, in words: `composite` describes the framework's
    /// composite path, `fused` its fused one (asked only if it ran).
    pub fn describe(&self, composite: &str, fused: impl FnOnce() -> String) -> String {
        if !self.ran.get() {
            return NO_ATTENTION.into();
        }
        match (self.plan.path, self.tile_rows.get()) {
            (AttentionPath::Fused, _) => fused(),
            (AttentionPath::Composite, _) => composite.into(),
            (AttentionPath::Tiled, Some(rows)) => format!(
                "tiled: queries in tiles of {rows} or more rows (at most {} of f32 scores each), each tile {composite}",
                crate::util::units::bytes(self.plan.tile_score_bytes, 1)
            ),
            (AttentionPath::Tiled, None) => {
                format!("tiled, but every call fit in one tile: {composite}")
            }
        }
    }
}

/// Why a backend cannot run `path`, listing the paths it offers; `None` when
/// it offers it.
pub fn unoffered(backend: &str, path: AttentionPath, offered: &[AttentionPath]) -> Option<String> {
    if offered.contains(&path) {
        return None;
    }
    let names: Vec<&str> = offered.iter().map(|p| p.name()).collect();
    Some(format!(
        "{backend} has no {path} attention here (--attention); it offers: {}",
        names.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::workload::find_preset;

    #[test]
    fn tiles_hold_the_budget_and_at_least_one_row() {
        let rows = query_tile_rows(12, 32_760, TILE_SCORE_BYTES);
        assert_eq!(rows, 42);
        let tile_bytes = |rows: usize| (rows * 12 * 32_760 * 4) as u64;
        assert!(tile_bytes(rows) <= TILE_SCORE_BYTES);
        assert!(tile_bytes(rows + 1) > TILE_SCORE_BYTES);
        assert_eq!(query_tile_rows(40, 75_600, 1024), 1);
        assert_eq!(query_tile_rows(1, 8, 1 << 20), 32_768);
    }

    #[test]
    fn auto_takes_the_best_path_and_tiles_only_what_does_not_fit() {
        let tiny = find_preset("wan-tiny").unwrap().config;
        let real = find_preset("wan2.1-1.3b-480p").unwrap().config;
        let written = [AttentionPath::Composite, AttentionPath::Tiled];
        let fused = [
            AttentionPath::Fused,
            AttentionPath::Composite,
            AttentionPath::Tiled,
        ];
        let auto = |offered: &[AttentionPath], c| {
            plan(AttentionChoice::Auto, offered, c, TILE_SCORE_BYTES).path
        };
        assert_eq!(auto(&written, &tiny), AttentionPath::Composite);
        assert_eq!(auto(&written, &real), AttentionPath::Tiled);
        assert_eq!(auto(&fused, &real), AttentionPath::Fused);
        assert_eq!(
            auto(&[AttentionPath::Composite], &real),
            AttentionPath::Composite
        );
        let asked = plan(AttentionChoice::Composite, &fused, &real, 7);
        assert_eq!(asked.path, AttentionPath::Composite);
        assert_eq!(asked.tile_score_bytes, 7);
        assert_eq!(self_attention_score_bytes(&real), 12 * 32_760u64.pow(2) * 4);
    }

    #[test]
    fn the_record_says_what_ran_and_the_fewest_rows_per_tile() {
        let tiled = AttentionRecord::new(AttentionPlan {
            path: AttentionPath::Tiled,
            tile_score_bytes: 1 << 10,
        });
        assert_eq!(tiled.describe("c", || "f".into()), NO_ATTENTION);
        // 2 heads x 16 keys x 4 bytes: 8 rows per KiB; 6 queries fit one tile.
        assert_eq!(tiled.call(2, 6, 16), None);
        assert_eq!(
            tiled.describe("c", || "f".into()),
            "tiled, but every call fit in one tile: c"
        );
        assert_eq!(tiled.call(2, 20, 16), Some(8));
        assert_eq!(tiled.call(4, 20, 16), Some(4));
        let budget = crate::util::units::bytes(1 << 10, 1);
        assert_eq!(
            tiled.describe("c", || "f".into()),
            format!(
                "tiled: queries in tiles of 4 or more rows (at most {budget} of f32 scores each), each tile c"
            )
        );
        let fused = AttentionRecord::new(AttentionPlan {
            path: AttentionPath::Fused,
            tile_score_bytes: 1 << 10,
        });
        assert_eq!(fused.call(2, 20, 16), None);
        assert_eq!(fused.describe("c", || "f".into()), "f");
    }

    #[test]
    fn a_path_not_offered_is_named_with_the_offered_ones() {
        let offered = [AttentionPath::Composite, AttentionPath::Tiled];
        assert_eq!(unoffered("candle", AttentionPath::Tiled, &offered), None);
        assert_eq!(
            unoffered("candle", AttentionPath::Fused, &offered).unwrap(),
            "candle has no fused attention here (--attention); it offers: composite, tiled"
        );
    }
}
