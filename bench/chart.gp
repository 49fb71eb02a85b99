# Latency percentiles of a bench/run.sh run, as clustered bars (log scale), three panels side by side.
# gnuplot -e "datadir='DIR'; out='FILE.png'; heading='TITLE'" bench/chart.gp
# DIR holds ns.dat, fixed.dat and stream.dat (written by bench/Report.java): a header line, then one row per target.
if (!exists("datadir")) datadir = "."
if (!exists("out")) out = "chart.png"
if (!exists("heading")) heading = "PowerProxy benchmark"
label(k) = system(sprintf("sed -n 's/^%s=//p' '%s/labels.txt'", k, datadir))

set terminal pngcairo size 1500,600 font "sans,10" noenhanced
set output out
set multiplot layout 1,3 title heading font "sans,13"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set format y "%g"
set ylabel "ms (log scale)"
set grid ytics mytics lc rgb "#dddddd"
set key top left
set xtics nomirror
set linetype 1 lc rgb "#4C78A8"
set linetype 2 lc rgb "#F58518"
set linetype 3 lc rgb "#E45756"
set linetype 4 lc rgb "#72B7B2"

set title label("ns")
set xtics rotate by -30
plot for [i=2:4] datadir."/ns.dat" using i:xtic(1) title columnheader(i)

set title label("fixed")
set xtics norotate
plot for [i=2:5] datadir."/fixed.dat" using i:xtic(1) title columnheader(i)

set title label("stream")
set xtics rotate by -30
plot for [i=2:4] datadir."/stream.dat" using i:xtic(1) title columnheader(i)

unset multiplot
