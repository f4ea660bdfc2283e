//! Statistics for benchmark reports.

/// Pearson's chi-square statistic of `observed` counts against a uniform expectation, and its
/// p-value with `len - 1` degrees of freedom: how likely a fair random pick would spread at
/// least this unevenly.
pub fn chi_square_uniform(observed: &[u64]) -> (f64, f64) {
    let k = observed.len();
    if k < 2 {
        return (0.0, 1.0);
    }
    let total: u64 = observed.iter().sum();
    let expected = total as f64 / k as f64;
    if expected == 0.0 {
        return (0.0, 1.0);
    }
    let chi2: f64 = observed
        .iter()
        .map(|&o| {
            let d = o as f64 - expected;
            d * d / expected
        })
        .sum();
    (chi2, gamma_q((k - 1) as f64 / 2.0, chi2 / 2.0))
}

/// The regularised upper incomplete gamma function Q(a, x) (Numerical Recipes, 6.2).
fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    if x < a + 1.0 {
        1.0 - gamma_p_series(a, x)
    } else {
        gamma_q_fraction(a, x)
    }
}

fn gamma_p_series(a: f64, x: f64) -> f64 {
    let mut ap = a;
    let mut term = 1.0 / a;
    let mut sum = term;
    for _ in 0..1000 {
        ap += 1.0;
        term *= x / ap;
        sum += term;
        if term.abs() < sum.abs() * 1e-15 {
            break;
        }
    }
    sum * (-x + a * x.ln() - ln_gamma(a)).exp()
}

fn gamma_q_fraction(a: f64, x: f64) -> f64 {
    let tiny = 1e-300;
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / tiny;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..1000 {
        let an = -(i as f64) * (i as f64 - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < tiny {
            d = tiny;
        }
        c = b + an / c;
        if c.abs() < tiny {
            c = tiny;
        }
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < 1e-15 {
            break;
        }
    }
    (-x + a * x.ln() - ln_gamma(a)).exp() * h
}

/// ln Γ(x), Lanczos' approximation (g = 7, n = 9), for x > 0.
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_p_values() {
        // Critical values of the chi-square distribution with 3 degrees of freedom.
        assert!((gamma_q(1.5, 7.815 / 2.0) - 0.05).abs() < 1e-4);
        assert!((gamma_q(1.5, 11.345 / 2.0) - 0.01).abs() < 1e-4);
        assert!((gamma_q(1.5, 0.584 / 2.0) - 0.90).abs() < 1e-3);
        // One degree of freedom.
        assert!((gamma_q(0.5, 3.841 / 2.0) - 0.05).abs() < 1e-4);
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        let (chi2, p) = chi_square_uniform(&[100, 100, 100, 100]);
        assert_eq!((chi2, p), (0.0, 1.0));
        let (chi2, p) = chi_square_uniform(&[130, 90, 90, 90]);
        assert!((chi2 - 12.0).abs() < 1e-9 && p < 0.01);
    }
}
