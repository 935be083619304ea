package io.cowfs.cli;

import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/** A progress bar on standard error when it is a terminal; silent otherwise. */
final class Progress implements AutoCloseable {
    private final String task;
    private final String unit;
    private final long unitSize;
    private volatile ProgressBar bar;

    Progress(String task, String unit, long unitSize) {
        this.task = task;
        this.unit = unit;
        this.unitSize = unitSize;
    }

    static Progress bytes(String task) {
        return new Progress(task, "MiB", 1 << 20);
    }

    static Progress count(String task, String unit) {
        return new Progress(task, " " + unit, 1);
    }

    /** Shows the bar with max as its end; called again, moves the end (a transfer that learns its size as it goes). */
    synchronized void start(long max) {
        if (bar != null) {
            bar.maxHint(max);
            return;
        }
        if (Base.interactive()) {
            bar = new ProgressBarBuilder().setTaskName(task).setInitialMax(max).setUnit(unit, unitSize)
                    .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(200)
                    .setConsumer(new ConsoleProgressBarConsumer(System.err)).showSpeed().build();
        }
    }

    void step(long n) {
        ProgressBar b = bar;
        if (b != null) {
            b.stepBy(n);
        }
    }

    @Override
    public synchronized void close() {
        if (bar != null) {
            bar.close();
            bar = null;
        }
    }
}
