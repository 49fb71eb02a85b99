# The proxy's memory and resources over a bench/soak.sh run, three panels one above the other.
# gnuplot -e "samples='FILE.tsv'; out='FILE.png'; heading='TITLE'; third=S; twothirds=S" bench/soak.gp
# FILE.tsv (written by bench/soak.sh): seconds, RSS MB, heap after GC MB, heap committed MB, threads, fds,
# proxy CPU %, mock CPU %, machine busy %, usage rows so far. third/twothirds: where the thirds of the load begin (s).
if (!exists("samples")) samples = "samples.tsv"
if (!exists("out")) out = "soak.png"
if (!exists("heading")) heading = "PowerProxy soak"
if (!exists("third")) third = 0
if (!exists("twothirds")) twothirds = 0

set terminal pngcairo size 1200,900 font "sans,10" noenhanced
set output out
set datafile separator "\t"
set datafile missing "-"
set multiplot layout 3,1 title heading font "sans,13"
set xlabel "minutes since the load started"
set grid lc rgb "#dddddd"
# The key in one row at the top, over room left free above the lines.
set key top left horizontal
set offsets 0, 0, graph 0.2, 0
set linetype 1 lc rgb "#4C78A8" lw 2
set linetype 2 lc rgb "#F58518" lw 2
set linetype 3 lc rgb "#E45756" lw 2
set linetype 4 lc rgb "#72B7B2" lw 2
if (third > 0) set arrow 1 from third / 60.0, graph 0 to third / 60.0, graph 1 nohead dt 2 lc rgb "#888888"
if (twothirds > 0) set arrow 2 from twothirds / 60.0, graph 0 to twothirds / 60.0, graph 1 nohead dt 2 lc rgb "#888888"

set title "memory (the dashed lines cut the load into thirds: warm-up, middle, last)"
set ylabel "MB"
set yrange [0:*]
plot samples using ($1 / 60):2 with lines title "RSS", \
     samples using ($1 / 60):4 with lines title "heap committed", \
     samples using ($1 / 60):3 with linespoints pt 7 ps 0.4 title "heap after the latest GC"

set title "threads and open file descriptors"
set ylabel "count"
plot samples using ($1 / 60):5 with lines title "threads", \
     samples using ($1 / 60):6 with lines title "open fds"

set title "work: usage rows written per second, CPU"
set ylabel "rows/s"
set y2label "% (proxy, mock: of one core; machine: of all cores)"
set y2range [0:250]   # up to 200% (both cores), and room for the key
set ytics nomirror
set y2tics
# Rows per second between two samples.
prev_t = NaN; prev_r = NaN
rate(t, r) = (dt = t - prev_t, dr = r - prev_r, prev_t = t, prev_r = r, dt > 0 ? dr / dt : NaN)
plot samples using ($1 / 60):(rate($1, $10)) with lines title "rows/s", \
     samples using ($1 / 60):7 axes x1y2 with lines title "proxy CPU %", \
     samples using ($1 / 60):8 axes x1y2 with lines title "mock CPU %", \
     samples using ($1 / 60):9 axes x1y2 with lines dt 3 title "machine busy %"

unset multiplot
