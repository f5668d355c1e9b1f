//! Wait and run histograms (`waitBins`, `runBins` on queue stats): pg-boss 12.38's log-spaced
//! latency bins and the two helpers it exports for them, `addBins` and `percentile`. Slot 0 counts
//! jobs under `LATENCY_MIN_SECONDS`, slot k (1..=LATENCY_BINS) jobs from `MIN * √2^(k-1)` to
//! `MIN * √2^k`, and the last slot everything past the top edge.

use crate::error::{ensure, Result};

pub const LATENCY_BINS: usize = 46;
pub const LATENCY_SLOTS: usize = LATENCY_BINS + 2;
pub const LATENCY_MIN_SECONDS: f64 = 0.01;

/// `addBins(a, b)`: the two histograms added slot by slot (over `a`'s length), as if their jobs
/// had been counted together; a missing histogram counts as empty, and two missing give none.
pub fn add_bins(a: Option<&[f64]>, b: Option<&[f64]>) -> Option<Vec<f64>> {
    match (a, b) {
        (None, None) => None,
        (Some(a), None) => Some(a.to_vec()),
        (None, Some(b)) => Some(b.to_vec()),
        (Some(a), Some(b)) => Some(
            a.iter()
                .enumerate()
                .map(|(i, n)| n + b.get(i).copied().unwrap_or(0.0))
                .collect(),
        ),
    }
}

/// `percentile(bins, p)`: the seconds under which `p` percent of the histogram's jobs fall,
/// interpolated geometrically within the slot that holds the target job. `None` for a missing or
/// empty histogram. Slot 0 has no lower edge and the last slot no upper one, so a percentile in
/// them is their known edge.
pub fn percentile(bins: Option<&[f64]>, p: f64) -> Result<Option<f64>> {
    ensure(
        (1.0..=100.0).contains(&p),
        "percentile: p must be a percent from 1 to 100, such as 95",
    )?;
    let Some(bins) = bins else { return Ok(None) };
    let total: f64 = bins.iter().sum();
    if bins.is_empty() || total == 0.0 || total.is_nan() {
        return Ok(None);
    }
    let target = p / 100.0 * total;
    let last = bins.len() - 1;
    let (mut k, mut below) = (0usize, 0.0);
    while k < last && !(bins[k] > 0.0 && below + bins[k] >= target) {
        below += bins[k];
        k += 1;
    }
    if k == 0 {
        return Ok(Some(LATENCY_MIN_SECONDS));
    }
    let lower_edge = LATENCY_MIN_SECONDS * std::f64::consts::SQRT_2.powi(k as i32 - 1);
    if k == last {
        return Ok(Some(lower_edge));
    }
    let within = (target - below) / bins[k];
    Ok(Some(lower_edge * std::f64::consts::SQRT_2.powf(within)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_add_slot_by_slot_and_missing_counts_as_empty() {
        assert_eq!(
            add_bins(Some(&[1.0, 2.0]), Some(&[3.0])),
            Some(vec![4.0, 2.0])
        );
        assert_eq!(add_bins(None, Some(&[3.0])), Some(vec![3.0]));
        assert_eq!(add_bins(Some(&[1.0]), None), Some(vec![1.0]));
        assert_eq!(add_bins(None, None), None);
    }

    #[test]
    fn percentiles_interpolate_within_their_slot() {
        // 10 jobs, 5 in slot 1 (10-14 ms), 5 in slot 2 (14-20 ms): the median is slot 1's top edge
        let bins = [0.0, 5.0, 5.0, 0.0];
        let p50 = percentile(Some(&bins), 50.0).unwrap().unwrap();
        assert!((p50 - 0.01 * std::f64::consts::SQRT_2).abs() < 1e-12);
        let p75 = percentile(Some(&bins), 75.0).unwrap().unwrap();
        assert!((p75 - 0.01 * std::f64::consts::SQRT_2 * 2f64.powf(0.25)).abs() < 1e-12);
        // under the first edge, and past the last one
        assert_eq!(
            percentile(Some(&[1.0, 0.0, 0.0]), 100.0).unwrap(),
            Some(0.01)
        );
        let top = percentile(Some(&[0.0, 0.0, 3.0]), 100.0).unwrap().unwrap();
        assert!((top - 0.01 * std::f64::consts::SQRT_2).abs() < 1e-12);
    }

    #[test]
    fn empty_histograms_have_no_percentile_and_p_is_checked() {
        assert_eq!(percentile(None, 50.0).unwrap(), None);
        assert_eq!(percentile(Some(&[]), 50.0).unwrap(), None);
        assert_eq!(percentile(Some(&[0.0, 0.0]), 50.0).unwrap(), None);
        for p in [0.0, 100.5, f64::NAN] {
            let err = percentile(Some(&[1.0]), p).unwrap_err();
            assert!(err.is_assertion());
            assert_eq!(
                err.message,
                "percentile: p must be a percent from 1 to 100, such as 95"
            );
        }
    }
}
