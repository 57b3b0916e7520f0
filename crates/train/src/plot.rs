//! Training plots of a run folder: `curves.png` (loss and accuracy per epoch) and `confusion.png` (the test-set
//! confusion matrix), drawn with plotters into an in-memory RGB buffer, encoded with `image` and written
//! atomically.
//!
//! Text is rendered by plotters' `ab_glyph` backend with DejaVu Sans embedded in the binary
//! (`assets/DejaVuSans.ttf`, see `assets/README.md`): no system font, fontconfig or download is needed.

use std::error::Error;
use std::io::Cursor;
use std::path::Path;
use std::sync::OnceLock;

use plotters::chart::SeriesAnno;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, FontTransform, register_font};

use crate::error::{TrainError, io_err};
use crate::trainer::EpochMetrics;

/// DejaVu Sans 2.37 (Bitstream Vera + Arev licences, `assets/DejaVuSans.LICENSE`).
static FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
/// The family name the embedded font is registered under (plotters' name for its sans-serif family).
const FONT: &str = "sans-serif";

/// Colour of the training series (matplotlib's `tab:blue`).
pub(crate) const TRAIN_COLOR: RGBColor = RGBColor(31, 119, 180);
/// Colour of the validation series (matplotlib's `tab:orange`).
pub(crate) const VAL_COLOR: RGBColor = RGBColor(255, 127, 14);
/// Colour of the best-epoch marker.
pub(crate) const BEST_COLOR: RGBColor = RGBColor(44, 160, 44);

/// Size of `curves.png`.
pub(crate) const CURVES_SIZE: (u32, u32) = (1200, 500);

type DrawResult = Result<(), Box<dyn Error>>;
type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Register the embedded font with plotters once per process.
fn font_ready() -> Result<(), String> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()
            && register_font(FONT, FontStyle::Bold, FONT_BYTES).is_ok()
    });
    if ok { Ok(()) } else { Err("the embedded font (assets/DejaVuSans.ttf) cannot be read".to_string()) }
}

/// Draw a `width`×`height` white image with `draw`, encode it as PNG and write it atomically to `path`.
fn render_png(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl FnOnce(&Area) -> DrawResult,
) -> Result<(), TrainError> {
    let plot_err = |reason: String| TrainError::Plot { path: path.to_path_buf(), reason };
    font_ready().map_err(plot_err)?;
    let mut buf = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
        let drawn: DrawResult = (|| {
            root.fill(&WHITE)?;
            draw(&root)?;
            root.present()?;
            Ok(())
        })();
        drawn.map_err(|e| plot_err(e.to_string()))?;
    }
    let img = image::RgbImage::from_raw(width, height, buf)
        .ok_or_else(|| plot_err("the pixel buffer does not match the image size".to_string()))?;
    let mut png = Vec::new();
    img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png).map_err(|e| plot_err(e.to_string()))?;
    issc_core::write_atomic(path, &png).map_err(io_err(path))
}

/// Split `(x, y)` points into runs of finite values: a NaN (or infinite) value breaks the line instead of being
/// drawn or joined across.
fn finite_runs(points: impl Iterator<Item = (f64, f64)>) -> Vec<Vec<(f64, f64)>> {
    let mut runs = vec![];
    let mut run = vec![];
    for (x, y) in points {
        if y.is_finite() {
            run.push((x, y));
        } else if !run.is_empty() {
            runs.push(std::mem::take(&mut run));
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

/// One curve of a panel.
struct Curve<'a> {
    name: &'a str,
    color: RGBColor,
    value: fn(&EpochMetrics) -> f64,
}

/// One panel of `curves.png`.
struct Panel<'a> {
    caption: &'a str,
    y_desc: &'a str,
    y_range: std::ops::Range<f64>,
    curves: [Curve<'a>; 2],
    legend_at: SeriesLabelPosition,
}

/// Draw one panel of `curves.png`: the curves against the epoch, a marker at `best_epoch`, a legend.
fn draw_panel(area: &Area, metrics: &[EpochMetrics], best_epoch: usize, panel: Panel) -> DrawResult {
    let Panel { caption, y_desc, y_range, curves, legend_at } = panel;
    let last = metrics.iter().map(|m| m.epoch).max().unwrap_or(1).max(1) as f64;
    let pad = (last * 0.02).max(0.5);
    let (x_lo, x_hi) = (1.0 - pad, last + pad);
    let (y_lo, y_hi) = (y_range.start, y_range.end);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 18))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(x_lo..x_hi, y_range)?;
    let x_format = |x: &f64| if x.fract() == 0.0 { format!("{x:.0}") } else { String::new() };
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(y_desc)
        .x_labels(metrics.len().clamp(2, 10))
        .x_label_formatter(&x_format)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 15))
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(215, 215, 215))
        .max_light_lines(4)
        .draw()?;

    let markers = metrics.len() <= 60;
    for curve in &curves {
        let color = curve.color;
        let runs = finite_runs(metrics.iter().map(|m| (m.epoch as f64, (curve.value)(m))));
        let mut labelled = false;
        let mut label = |series: &mut SeriesAnno<'_, BitMapBackend<'_>>| {
            if !labelled {
                series
                    .label(curve.name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(3)));
                labelled = true;
            }
        };
        for run in &runs {
            label(chart.draw_series(LineSeries::new(run.iter().copied(), color.stroke_width(2)))?);
            // Points: every epoch when there are few, and always a run of one epoch (no line to show it).
            if markers || run.len() == 1 {
                chart.draw_series(run.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
            }
        }
        if runs.is_empty() {
            // No finite value at all: keep the legend entry so the reader sees the series is missing.
            label(chart.draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?);
        }
    }
    if best_epoch >= 1 && best_epoch as f64 <= last {
        let b = best_epoch as f64;
        chart
            .draw_series(DashedLineSeries::new([(b, y_lo), (b, y_hi)], 6, 4, BEST_COLOR.stroke_width(2)))?
            .label(format!("best epoch {best_epoch}"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], BEST_COLOR.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(legend_at)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .margin(10)
        .draw()?;
    Ok(())
}

/// The loss axis: from 0 (or the lowest value, if negative) to a little above the highest finite value.
fn loss_range(metrics: &[EpochMetrics]) -> std::ops::Range<f64> {
    let values = metrics.iter().flat_map(|m| [m.train_loss, m.val_loss]).filter(|v| v.is_finite());
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let lo = lo.min(0.0);
    let hi = if hi > lo { hi + (hi - lo) * 0.08 } else { lo + 1.0 };
    lo..hi
}

/// Write `curves.png`: two panels side by side, loss (left) and accuracy (right) of the training and validation
/// splits against the epoch, with a dashed marker at `best_epoch` (the kept model; 0 draws none). NaN or
/// infinite values are left out (the line breaks there); one epoch is drawn as points.
pub(crate) fn write_curves_png(path: &Path, metrics: &[EpochMetrics], best_epoch: usize) -> Result<(), TrainError> {
    render_png(path, CURVES_SIZE, |root| {
        let title = match metrics.len() {
            1 => "Training: 1 epoch".to_string(),
            n => format!("Training: {n} epochs"),
        };
        let title =
            if best_epoch >= 1 { format!("{title}, best (lowest validation loss) epoch {best_epoch}") } else { title };
        let body = root.titled(&title, (FONT, 22))?;
        let (left, right) = body.split_horizontally(CURVES_SIZE.0 / 2);
        let loss = Panel {
            caption: "Loss (cross-entropy)",
            y_desc: "loss",
            y_range: loss_range(metrics),
            curves: [
                Curve { name: "train loss", color: TRAIN_COLOR, value: |m| m.train_loss },
                Curve { name: "val loss", color: VAL_COLOR, value: |m| m.val_loss },
            ],
            legend_at: SeriesLabelPosition::UpperRight,
        };
        let accuracy = Panel {
            caption: "Accuracy",
            y_desc: "accuracy",
            y_range: 0.0..1.0,
            curves: [
                Curve { name: "train accuracy", color: TRAIN_COLOR, value: |m| m.train_accuracy },
                Curve { name: "val accuracy", color: VAL_COLOR, value: |m| m.val_accuracy },
            ],
            legend_at: SeriesLabelPosition::LowerRight,
        };
        draw_panel(&left, metrics, best_epoch, loss)?;
        draw_panel(&right, metrics, best_epoch, accuracy)
    })
}

/// Longest label drawn on the confusion matrix's axes, in characters; longer ones end in "…".
const MAX_LABEL_CHARS: usize = 28;

/// `label` shortened to at most `max_chars` characters (the last one "…").
fn truncate_label(label: &str, max_chars: usize) -> String {
    if label.chars().count() <= max_chars {
        label.to_string()
    } else {
        let mut s: String = label.chars().take(max_chars.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// Colour of a cell holding `share` (0..=1) of its row: white to dark blue (matplotlib's "Blues").
fn heat_color(share: f64) -> RGBColor {
    const STOPS: [(f64, [f64; 3]); 3] =
        [(0.0, [247.0, 251.0, 255.0]), (0.5, [107.0, 174.0, 214.0]), (1.0, [8.0, 48.0, 107.0])];
    let s = if share.is_finite() { share.clamp(0.0, 1.0) } else { 0.0 };
    let (i, t) = if s <= 0.5 { (0, s / 0.5) } else { (1, (s - 0.5) / 0.5) };
    let (a, b) = (STOPS[i].1, STOPS[i + 1].1);
    let c = |k: usize| (a[k] + (b[k] - a[k]) * t).round() as u8;
    RGBColor(c(0), c(1), c(2))
}

/// Write `confusion.png`: the confusion matrix as a heat map, rows the true label, columns the predicted label,
/// each cell coloured by its share of the row (the true label's faces) and showing its count. The image is sized
/// from the number of labels; long label names are shortened, column names are written vertically.
pub(crate) fn write_confusion_png(path: &Path, labels: &[String], matrix: &[Vec<usize>]) -> Result<(), TrainError> {
    let n = labels.len();
    let plot_err = |reason: String| TrainError::Plot { path: path.to_path_buf(), reason };
    if n == 0 {
        return Err(plot_err("no labels: nothing to draw".to_string()));
    }
    if matrix.len() != n || matrix.iter().any(|row| row.len() != n) {
        return Err(plot_err(format!("the confusion matrix is not {n}×{n} (one row and column per label)")));
    }
    font_ready().map_err(plot_err)?;

    // Geometry from the label count: about 1000 px of grid, cells of 14 to 90 px.
    let cell = (1000 / n as i32).clamp(14, 90);
    let label_font = (f64::from(cell) * 0.7).clamp(9.0, 15.0);
    let count_font = (f64::from(cell) * 0.4).clamp(8.0, 18.0);
    let show_counts = cell >= 18;
    let names: Vec<String> = labels.iter().map(|l| truncate_label(l, MAX_LABEL_CHARS)).collect();
    // Text widths, measured with the embedded font (the backend is only needed for its measuring).
    let label_style = TextStyle::from((FONT, label_font).into_font()).color(&BLACK);
    let mut probe = [0u8; 3];
    let probe = BitMapBackend::with_buffer(&mut probe, (1, 1)).into_drawing_area();
    let mut widest = 0i32;
    for name in &names {
        let (w, _) = probe.estimate_text_size(name, &label_style).map_err(|e| plot_err(e.to_string()))?;
        widest = widest.max(w as i32);
    }
    drop(probe);
    let total: usize = matrix.iter().flatten().sum();
    let correct: usize = (0..n).map(|i| matrix[i][i]).sum();
    let title = format!(
        "Test confusion matrix: {correct}/{total} correct ({:.1}%)",
        if total > 0 { 100.0 * correct as f64 / total as f64 } else { 0.0 }
    );
    let (title_h, axis_h, gap) = (50, 30, 8);
    let (left, top) = (axis_h + widest + gap, title_h);
    let grid = cell * n as i32;
    let (bar_w, bar_right) = (18, 70);
    let width = (left + grid + 24 + bar_w + bar_right).max(560);
    let height = top + grid + gap + widest + axis_h + 10;

    render_png(path, (width as u32, height as u32), |root| {
        root.draw_text(
            &title,
            &TextStyle::from((FONT, 20).into_font()).pos(Pos::new(HPos::Center, VPos::Top)),
            (width / 2, 14),
        )?;
        for (i, row) in matrix.iter().enumerate() {
            let row_total: usize = row.iter().sum();
            for (j, &count) in row.iter().enumerate() {
                let share = if row_total > 0 { count as f64 / row_total as f64 } else { 0.0 };
                let (x0, y0) = (left + j as i32 * cell, top + i as i32 * cell);
                root.draw(&Rectangle::new([(x0, y0), (x0 + cell, y0 + cell)], heat_color(share).filled()))?;
                if show_counts {
                    let color = if count == 0 {
                        RGBColor(190, 190, 190)
                    } else if share > 0.5 {
                        WHITE
                    } else {
                        BLACK
                    };
                    let style = TextStyle::from((FONT, count_font).into_font())
                        .color(&color)
                        .pos(Pos::new(HPos::Center, VPos::Center));
                    root.draw_text(&count.to_string(), &style, (x0 + cell / 2, y0 + cell / 2))?;
                }
            }
        }
        // Cell borders and the diagonal's frame.
        let line = RGBColor(200, 200, 200);
        for k in 0..=n as i32 {
            root.draw(&PathElement::new(vec![(left, top + k * cell), (left + grid, top + k * cell)], line))?;
            root.draw(&PathElement::new(vec![(left + k * cell, top), (left + k * cell, top + grid)], line))?;
        }
        root.draw(&Rectangle::new([(left, top), (left + grid, top + grid)], BLACK))?;
        // Row names (true labels), right-aligned left of the grid; column names (predicted), vertical below it.
        for (k, name) in names.iter().enumerate() {
            let c = k as i32 * cell + cell / 2;
            root.draw_text(name, &label_style.pos(Pos::new(HPos::Right, VPos::Center)), (left - gap, top + c))?;
            root.draw_text(
                name,
                &label_style.transform(FontTransform::Rotate270).pos(Pos::new(HPos::Right, VPos::Center)),
                (left + c, top + grid + gap),
            )?;
        }
        let axis_style = TextStyle::from((FONT, 16).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
        root.draw_text("predicted label", &axis_style, (left + grid / 2, height - axis_h / 2 - 4))?;
        root.draw_text("true label", &axis_style.transform(FontTransform::Rotate270), (axis_h / 2, top + grid / 2))?;
        // Colour bar: share of the row.
        let bx = left + grid + 24;
        let steps = grid.max(1);
        for y in 0..steps {
            let share = 1.0 - f64::from(y) / f64::from(steps);
            root.draw(&Rectangle::new([(bx, top + y), (bx + bar_w, top + y + 1)], heat_color(share).filled()))?;
        }
        root.draw(&Rectangle::new([(bx, top), (bx + bar_w, top + grid)], BLACK))?;
        let tick_style = TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        for (share, text) in [(1.0, "100%"), (0.5, "50%"), (0.0, "0%")] {
            let y = top + ((1.0 - share) * f64::from(grid)) as i32;
            root.draw(&PathElement::new(vec![(bx + bar_w, y), (bx + bar_w + 4, y)], BLACK))?;
            root.draw_text(text, &tick_style, (bx + bar_w + 7, y))?;
        }
        root.draw_text(
            "share of the true label's faces",
            &TextStyle::from((FONT, 13).into_font())
                .transform(FontTransform::Rotate90)
                .pos(Pos::new(HPos::Center, VPos::Center)),
            (bx + bar_w + 52, top + grid / 2),
        )?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(epoch: usize, train_loss: f64, val_loss: f64, train_accuracy: f64, val_accuracy: f64) -> EpochMetrics {
        EpochMetrics { epoch, train_loss, train_accuracy, val_loss, val_accuracy, lr: 1e-3, seconds: 0.1 }
    }

    fn decode(path: &Path) -> image::RgbImage {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{} is a PNG", path.display());
        image::load_from_memory_with_format(&bytes, image::ImageFormat::Png).unwrap().to_rgb8()
    }

    /// Pixels of exactly `color` in columns `x0..x1`.
    fn count_color(img: &image::RgbImage, color: RGBColor, x0: u32, x1: u32) -> usize {
        img.enumerate_pixels().filter(|(x, _, p)| (x0..x1).contains(x) && p.0 == [color.0, color.1, color.2]).count()
    }

    fn distinct_colors(img: &image::RgbImage) -> usize {
        img.pixels().map(|p| p.0).collect::<std::collections::HashSet<_>>().len()
    }

    /// A directory with nothing but `name` in it (no temporary file left behind).
    fn only_file(dir: &Path, name: &str) {
        let names: Vec<_> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names, vec![name.to_string()]);
    }

    fn curves(n: usize) -> Vec<EpochMetrics> {
        (1..=n)
            .map(|e| {
                let t = e as f64;
                epoch(e, 2.5 / t, 2.6 / t.sqrt(), 1.0 - 0.8 / t, 0.9 - 0.7 / t.sqrt())
            })
            .collect()
    }

    #[test]
    fn curves_png_has_both_panels_and_both_series() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("curves.png");
        write_curves_png(&path, &curves(40), 25).unwrap();
        only_file(dir.path(), "curves.png");
        let img = decode(&path);
        assert_eq!(img.dimensions(), CURVES_SIZE);
        assert!(distinct_colors(&img) > 20, "not blank: {} colours", distinct_colors(&img));
        let half = CURVES_SIZE.0 / 2;
        for (panel, (x0, x1)) in [("loss", (0, half)), ("accuracy", (half, CURVES_SIZE.0))] {
            for (name, color) in [("train", TRAIN_COLOR), ("val", VAL_COLOR), ("best", BEST_COLOR)] {
                let n = count_color(&img, color, x0, x1);
                assert!(n > 100, "{panel} panel: {n} pixels of the {name} colour");
            }
        }
        // Mostly white background, and dark text (title, ticks, axis labels) present.
        let white = img.pixels().filter(|p| p.0 == [255, 255, 255]).count();
        assert!(white > img.pixels().len() / 2);
        assert!(img.pixels().filter(|p| p.0.iter().all(|&c| c < 60)).count() > 500, "text drawn");
    }

    #[test]
    fn curves_png_single_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("curves.png");
        write_curves_png(&path, &[epoch(1, 1.2, 1.4, 0.55, 0.5)], 1).unwrap();
        let img = decode(&path);
        assert_eq!(img.dimensions(), CURVES_SIZE);
        let half = CURVES_SIZE.0 / 2;
        for (x0, x1) in [(0, half), (half, CURVES_SIZE.0)] {
            // Legend sample (about 66 pixels) plus the epoch's point.
            assert!(count_color(&img, TRAIN_COLOR, x0, x1) > 70);
            assert!(count_color(&img, VAL_COLOR, x0, x1) > 70);
        }
    }

    #[test]
    fn curves_png_skips_nan() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("curves.png");
        let mut metrics = curves(12);
        metrics[0].val_loss = f64::NAN;
        metrics[5].train_loss = f64::NAN;
        metrics[6].val_accuracy = f64::NAN;
        metrics[11].train_loss = f64::INFINITY;
        write_curves_png(&path, &metrics, 9).unwrap();
        let img = decode(&path);
        assert_eq!(img.dimensions(), CURVES_SIZE);
        assert!(count_color(&img, TRAIN_COLOR, 0, CURVES_SIZE.0 / 2) > 100);
        assert!(count_color(&img, VAL_COLOR, 0, CURVES_SIZE.0 / 2) > 100);

        // Every value NaN: still an image, with the legend entries and no panic.
        let all_nan: Vec<_> = (1..=3).map(|e| epoch(e, f64::NAN, f64::NAN, f64::NAN, f64::NAN)).collect();
        write_curves_png(&path, &all_nan, 0).unwrap();
        let img = decode(&path);
        assert!(count_color(&img, TRAIN_COLOR, 0, CURVES_SIZE.0) > 0);
        assert_eq!(count_color(&img, BEST_COLOR, 0, CURVES_SIZE.0), 0, "no best epoch, no marker");
        assert_eq!(loss_range(&all_nan), 0.0..1.0);
    }

    #[test]
    fn finite_runs_break_at_nan() {
        let ys = [1.0, f64::NAN, 2.0, 3.0, f64::INFINITY, f64::NAN, 4.0];
        let runs = finite_runs(ys.iter().enumerate().map(|(i, &y)| (i as f64, y)));
        assert_eq!(runs, vec![vec![(0.0, 1.0)], vec![(2.0, 2.0), (3.0, 3.0)], vec![(6.0, 4.0)]]);
        assert!(finite_runs(std::iter::empty()).is_empty());
    }

    fn confusion(n: usize) -> (Vec<String>, Vec<Vec<usize>>) {
        let labels = (0..n).map(|k| format!("person_{k:02}_{}", "x".repeat(k % 7))).collect();
        let matrix = (0..n)
            .map(|i| (0..n).map(|j| if i == j { 8 + i % 5 } else { usize::from((i + 2 * j) % 11 == 0) }).collect())
            .collect();
        (labels, matrix)
    }

    #[test]
    fn confusion_png_small() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("confusion.png");
        let labels: Vec<String> = ["ann", "bob", "cid", "dee"].map(String::from).into();
        let matrix = vec![vec![9, 1, 0, 0], vec![0, 10, 0, 0], vec![2, 0, 8, 0], vec![0, 0, 0, 5]];
        write_confusion_png(&path, &labels, &matrix).unwrap();
        only_file(dir.path(), "confusion.png");
        let img = decode(&path);
        let (w, h) = img.dimensions();
        // 4 cells of 90 px, plus the names, title and colour bar.
        assert!(w >= 560 && h > 4 * 90, "{w}×{h}");
        assert!(distinct_colors(&img) > 20);
        // Each cell is filled with the colour of its share of the row (less its borders and count).
        let pixels = |share: f64| {
            let c = heat_color(share);
            img.pixels().filter(|p| p.0 == [c.0, c.1, c.2]).count()
        };
        assert!(pixels(1.0) > 2 * 70 * 70, "two full rows: {}", pixels(1.0));
        assert!(pixels(0.9) > 70 * 70, "ann's diagonal: {}", pixels(0.9));
        assert!(pixels(0.8) > 70 * 70, "cid's diagonal: {}", pixels(0.8));
        assert!(pixels(0.2) > 70 * 70, "cid taken for ann: {}", pixels(0.2));
        assert!(pixels(0.0) > 9 * 70 * 70, "empty cells: {}", pixels(0.0));
        // Counts and names are written in dark text.
        assert!(img.pixels().filter(|p| p.0.iter().all(|&c| c < 60)).count() > 300);
    }

    #[test]
    fn confusion_png_thirty_labels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("confusion.png");
        let (mut labels, matrix) = confusion(30);
        labels[3] = "a very long label name that would not fit on the axis at all".to_string();
        write_confusion_png(&path, &labels, &matrix).unwrap();
        let img = decode(&path);
        let (w, h) = img.dimensions();
        // 30 cells of 33 px, plus room for the names.
        assert!(w > 30 * 33 && h > 30 * 33, "{w}×{h}");
        assert!(w < 2000 && h < 2000, "{w}×{h}");
        assert!(distinct_colors(&img) > 20);
        // Each true label's row has its diagonal cell in the row's darkest colour.
        for (i, row) in matrix.iter().enumerate() {
            let share = row[i] as f64 / row.iter().sum::<usize>() as f64;
            let c = heat_color(share);
            assert!(img.pixels().any(|p| p.0 == [c.0, c.1, c.2]), "row {i}: diagonal colour drawn");
        }
        // Dark text (names, counts) drawn.
        assert!(img.pixels().filter(|p| p.0.iter().all(|&c| c < 60)).count() > 2000);
    }

    #[test]
    fn confusion_png_refuses_a_bad_matrix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("confusion.png");
        let labels = vec!["a".to_string(), "b".to_string()];
        let err = write_confusion_png(&path, &labels, &[vec![1, 0]]).unwrap_err();
        assert!(matches!(err, TrainError::Plot { .. }), "{err}");
        assert!(err.to_string().contains("confusion.png"), "{err}");
        assert!(write_confusion_png(&path, &[], &[]).is_err());
        assert!(!path.exists());
    }

    /// A separable 3-class set in embedding space: `per_test` test rows per class.
    fn embedded_set(per_test: usize) -> crate::EmbeddedSet {
        use crate::{EMBEDDING_DIM, Split};
        let split = |per_class: usize, salt: usize| {
            let mut s = Split::default();
            for class in 0..3 {
                for k in 0..per_class {
                    let mut row: Vec<f32> = (0..EMBEDDING_DIM)
                        .map(|d| if d % 3 == class { 1.0 } else { 0.0 } + ((d * 7 + k * 13 + salt) % 10) as f32 * 0.02)
                        .collect();
                    let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
                    row.iter_mut().for_each(|v| *v /= norm);
                    s.x.extend(row);
                    s.y.push(class);
                    s.paths.push(format!("c{class}/{salt}-{k}.png"));
                }
            }
            s
        };
        crate::EmbeddedSet {
            labels: ["ann", "bob", "cid"].map(String::from).into(),
            train: split(8, 1),
            val: split(3, 2),
            test: split(per_test, 3),
            cache: Default::default(),
            fingerprint: "test".into(),
            root: "dataset".into(),
        }
    }

    #[test]
    fn train_head_writes_the_plots() {
        let opts = crate::TrainOptions { epochs: 3, ..Default::default() };
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let report = crate::train_head(&embedded_set(2), &run, &opts, &mut |_| {}).unwrap();
        assert_eq!(report.epochs, 3);
        assert_eq!(decode(&run.join("curves.png")).dimensions(), CURVES_SIZE);
        let confusion = decode(&run.join("confusion.png"));
        assert!(confusion.width() >= 560, "{:?}", confusion.dimensions());

        // No test faces: no confusion.png, the rest of the run as usual.
        let run = dir.path().join("no-test");
        crate::train_head(&embedded_set(0), &run, &opts, &mut |_| {}).unwrap();
        assert!(run.join("curves.png").is_file() && run.join("test.json").is_file());
        assert!(!run.join("confusion.png").exists());
    }

    #[test]
    fn labels_are_truncated_and_colours_scale() {
        assert_eq!(truncate_label("short", 28), "short");
        let long = truncate_label(&"é".repeat(40), 10);
        assert_eq!(long.chars().count(), 10);
        assert!(long.ends_with('…'));
        assert_eq!(heat_color(0.0), RGBColor(247, 251, 255));
        assert_eq!(heat_color(1.0), RGBColor(8, 48, 107));
        assert_eq!(heat_color(f64::NAN), heat_color(0.0));
        assert!(heat_color(0.75).0 < heat_color(0.25).0);
    }
}
