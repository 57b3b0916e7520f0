//! Times [`issc_train::SFaceNet`] on the CPU (burn's `flex` backend): inference, and a training step with the last
//! 2 stages and with all 15 stages trainable.
//!
//! ```text
//! cargo run --release -p issc-train --example sface_net_bench [-- BATCH [RUNS]]
//! ```

use std::time::{Duration, Instant};

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use issc_train::SFaceNet;

fn input(batch: usize, device: &Device) -> Tensor<4> {
    let data: Vec<f32> = (0..batch * 3 * 112 * 112).map(|i| ((i * 7919) % 256) as f32).collect();
    Tensor::from_data(TensorData::new(data, [batch, 3, 112, 112]), device)
}

/// Median of `runs` timings of `f`, after one warm-up call.
fn time(runs: usize, mut f: impl FnMut()) -> Duration {
    f();
    let mut t: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    t.sort();
    t[t.len() / 2]
}

fn report(what: &str, d: Duration, batch: usize) {
    let ms = d.as_secs_f64() * 1e3;
    println!("{what:<44} {ms:>9.1} ms/batch {:>8.2} ms/face", ms / batch as f64);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let batch: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(16);
    let runs: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5);
    let models = issc_detect::ModelDir::locate(None)?;
    let bytes = models.load(&issc_detect::models::SFACE_DEQUANT)?;
    println!("batch {batch}, median of {runs} runs, {} threads", rayon::current_num_threads());

    let device = Device::flex();
    let net = SFaceNet::from_onnx(&bytes, &device)?;
    let x = input(batch, &device);
    let d = time(runs, || {
        let _ = net.forward(x.clone()).into_data();
    });
    report("forward (Device::flex)", d, batch);

    let device = Device::flex().autodiff();
    let x = input(batch, &device);
    for k in [2, 15] {
        let net = SFaceNet::from_onnx(&bytes, &device)?.freeze_all_but_last(k);
        let (trainable, frozen) = net.param_counts();
        let d = time(runs, || {
            let grads = net.forward(x.clone()).sum().backward();
            let _ = GradientsParams::from_grads(grads, &net);
        });
        report(&format!("forward+backward, last {k} stages ({trainable} trainable)"), d, batch);
        let _ = frozen;
        let mut optim = AdamWConfig::new().init();
        let mut model = Some(net);
        let d = time(runs, || {
            let Some(net) = model.take() else { return };
            let grads = GradientsParams::from_grads(net.forward(x.clone()).sum().backward(), &net);
            model = Some(optim.step(1e-4, net, grads));
        });
        report(&format!("  + AdamW step, last {k} stages"), d, batch);
        let _ = model.map(|m| m.valid());
    }
    Ok(())
}
