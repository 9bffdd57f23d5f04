//! Learning-rate schedules, evaluated on the host once per epoch and fed to
//! the compiled step as its `lr` input (so a schedule never recompiles).

use crate::sema::program::Schedule;

/// The learning rate for 0-based `epoch` of `epochs`, from base rate `lr`.
pub fn learning_rate(schedule: &Schedule, lr: f64, epoch: usize, epochs: usize) -> f64 {
    match *schedule {
        Schedule::Constant => lr,
        Schedule::Step { every, gamma } => lr * gamma.powi((epoch / every) as i32),
        Schedule::Exponential { gamma } => lr * gamma.powi(epoch as i32),
        Schedule::Cosine { warmup, min_lr } => {
            if epoch < warmup {
                lr * (epoch + 1) as f64 / (warmup + 1) as f64
            } else {
                let span = epochs.saturating_sub(warmup).max(1) as f64;
                let t = (epoch - warmup) as f64 / span;
                min_lr + 0.5 * (lr - min_lr) * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_follow_their_formulas() {
        let step = Schedule::Step {
            every: 2,
            gamma: 0.5,
        };
        let got: Vec<f64> = (0..5).map(|e| learning_rate(&step, 1.0, e, 5)).collect();
        assert_eq!(got, vec![1.0, 1.0, 0.5, 0.5, 0.25]);
        let exp = Schedule::Exponential { gamma: 0.9 };
        assert!((learning_rate(&exp, 2.0, 2, 5) - 2.0 * 0.81).abs() < 1e-12);
        let cos = Schedule::Cosine {
            warmup: 1,
            min_lr: 0.0,
        };
        assert!((learning_rate(&cos, 1.0, 0, 5) - 0.5).abs() < 1e-12);
        assert!((learning_rate(&cos, 1.0, 1, 5) - 1.0).abs() < 1e-12);
        assert!(learning_rate(&cos, 1.0, 4, 5) < 0.2);
        assert_eq!(learning_rate(&Schedule::Constant, 0.3, 7, 10), 0.3);
    }
}
