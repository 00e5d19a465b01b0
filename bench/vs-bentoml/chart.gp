# The chart of run.sh: docs/bench-vs-bentoml.png. run.sh fills in @DATA@, @OUT@, @TITLE@, @HOP@ and @NOTES@.
# Data (bench.py report): one block per panel; columns: case, then median, min, max of tiffin
# and of BentoML; "-" where there is none.
set terminal pngcairo size 1800,1050 font "DejaVu Sans,12" noenhanced
set output "@OUT@"
set datafile missing "-"
set style data histograms
set style histogram errorbars gap 1 lw 1.5
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics lc rgb "#dddddd"
set logscale y
set format y "%g"
set xtics nomirror scale 0 font ",10"
set ytics nomirror
set border 3
set bars 2
set offsets 0, 0, graph 0.12, 0
set bmargin 4
c_tiffin = "#1f77b4"; c_bento = "#ff7f0e"
# the median, printed above each bar
num(y) = y >= 100 ? sprintf("%.0f", y) : y >= 10 ? sprintf("%.1f", y) : y >= 1 ? sprintf("%.2f", y) : sprintf("%.3f", y)
lbl(col) = valid(col) ? num(column(col)) : ""
# "a|b" in the data: a tic label of two lines
nl(s) = strstrt(s, "|") > 0 ? s[1:strstrt(s, "|") - 1] . "\n" . s[strstrt(s, "|") + 1:] : s

set xrange [-0.5:3.5] # fixed: a panel without data stays empty instead of failing
set multiplot layout 2,4 title "@TITLE@" font ",15"
do for [p = 0:5] {
    if (p == 0) { set title "throughput, 1 connection\n(req/s, higher is better)" }
    if (p == 1) { set title "throughput, 64 connections\n(req/s, higher is better)" }
    if (p == 2) { set title "p50 latency, 1 connection\n(ms, lower is better)" }
    if (p == 3) { set title "p99 latency, 64 connections\n(ms, lower is better)" }
    if (p == 4) { set title "peak RSS under load, all processes\nof a server (MB)" }
    if (p == 5) { set title "start to ready\n(s)" }
    if (p == 0) { set key top right font ",10" samplen 1.5 } else { unset key }
    plot "@DATA@" index p using 2:3:4:xtic(nl(strcol(1))) title "tiffin" lc rgb c_tiffin, \
         "" index p using 5:6:7 title "BentoML" lc rgb c_bento, \
         "" index p using ($0 - 0.17):($4 * 1.15):(lbl(2)) with labels left rotate by 90 font ",9" notitle, \
         "" index p using ($0 + 0.17):($7 * 1.15):(lbl(5)) with labels left rotate by 90 font ",9" notitle
}
if (@HOP@) { # run.sh: 1 when the hop was measured
    set title "per-hop overhead, interleaved\n(ms, lower is better)"
    set key top left font ",10" samplen 1.5
    set xtics format ""
    set xrange [-0.5:1.5]
    plot "@DATA@" index 6 using 2:3:4:xtic(nl(strcol(1))) title "tiffin" lc rgb c_tiffin, \
         "" index 6 using 5:6:7 title "BentoML" lc rgb c_bento, \
         "" index 6 using ($0 - 0.17):($4 * 1.15):(lbl(2)) with labels left rotate by 90 font ",9" notitle, \
         "" index 6 using ($0 + 0.17):($7 * 1.15):(lbl(5)) with labels left rotate by 90 font ",9" notitle
}
# the eighth panel: what was measured, and where
unset key; unset title; unset border; unset tics; unset grid; unset logscale y
set xrange [0:1]; set yrange [0:1]
set label 1 "@NOTES@" at 0.02, 0.95 left front font ",10.5"
plot NaN notitle
unset multiplot
