//! Confidence intervals by the bootstrap, criterion's method: resample the samples with
//! replacement many times, compute the statistic on each resample, and take the middle 95% of
//! those values. It assumes nothing about the distribution of timings (they are skewed: a
//! sample can only be slowed down by the machine), and it gives a ratio of two means an
//! interval as readily as a mean. Seeded, so the same samples print the same intervals.

/// A statistic and its 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub point: f64,
    pub low: f64,
    pub high: f64,
}

const RESAMPLES: usize = 10_000;
const CONFIDENCE: f64 = 0.95;

/// The mean of `samples`.
pub fn mean(samples: &[f64]) -> Estimate {
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let resampled = (0..RESAMPLES)
        .map(|_| resampled_mean(&mut rng, samples))
        .collect();
    interval(average(samples), resampled)
}

/// The ratio of the means of `ours` and `theirs` (how many times longer ours takes), the two
/// sample sets resampled independently.
pub fn ratio(ours: &[f64], theirs: &[f64]) -> Estimate {
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let resampled = (0..RESAMPLES)
        .map(|_| resampled_mean(&mut rng, ours) / resampled_mean(&mut rng, theirs))
        .collect();
    interval(average(ours) / average(theirs), resampled)
}

fn average(samples: &[f64]) -> f64 {
    samples.iter().sum::<f64>() / samples.len() as f64
}

fn resampled_mean(rng: &mut fastrand::Rng, samples: &[f64]) -> f64 {
    let n = samples.len();
    (0..n).map(|_| samples[rng.usize(..n)]).sum::<f64>() / n as f64
}

/// The percentile interval of the resampled statistics around `point`.
fn interval(point: f64, mut resampled: Vec<f64>) -> Estimate {
    resampled.sort_by(f64::total_cmp);
    let at = |q: f64| resampled[((resampled.len() - 1) as f64 * q).round() as usize];
    let tail = (1.0 - CONFIDENCE) / 2.0;
    Estimate {
        point,
        low: at(tail),
        high: at(1.0 - tail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_holds_the_mean_and_narrows_with_less_spread() {
        let noisy: Vec<f64> = (0..50).map(|i| 100.0 + (i % 10) as f64 * 4.0).collect();
        let quiet: Vec<f64> = (0..50).map(|i| 100.0 + (i % 10) as f64 * 0.4).collect();
        let (noisy, quiet) = (mean(&noisy), mean(&quiet));
        for e in [noisy, quiet] {
            assert!(e.low < e.point && e.point < e.high, "{e:?}");
        }
        assert!(quiet.high - quiet.low < noisy.high - noisy.low);
        let constant = mean(&[7.0; 20]);
        assert_eq!(
            (constant.low, constant.point, constant.high),
            (7.0, 7.0, 7.0)
        );
    }

    #[test]
    fn a_ratio_of_means_with_its_interval() {
        let ours: Vec<f64> = (0..40).map(|i| 20.0 + (i % 5) as f64).collect();
        let theirs: Vec<f64> = (0..40).map(|i| 10.0 + (i % 5) as f64 * 0.5).collect();
        let r = ratio(&ours, &theirs);
        assert!((r.point - 2.0).abs() < 1e-9, "{r:?}");
        assert!(r.low < 2.0 && 2.0 < r.high && r.high - r.low < 0.2, "{r:?}");
    }
}
