// The dashboard's script (inlined into dashboard/index.html by pipeline/dashboard.py): it sums the
// per-day gold rows embedded in the page (#cdi-data) over the chosen dates and channels, and draws
// the KPI tiles and Plotly charts from those sums. Amounts arrive in cents so that the sums are
// exact; dates are ISO strings (YYYY-MM-DD), compared as strings and stepped as UTC days.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("cdi-data").textContent);
  const CUR = data.currency;
  const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  const PALETTE = ["#8c564b", "#e377c2", "#bcbd22", "#17becf", "#d62728"];
  const CONFIG = { displaylogo: false, responsive: true };
  const money = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const count = new Intl.NumberFormat("en-US");
  const fmtMoney = (cents) => money.format(cents / 100);

  const DAY_MS = 86400000;
  const toDay = (iso) => Date.parse(iso + "T00:00:00Z");
  const fromDay = (ms) => new Date(ms).toISOString().slice(0, 10);
  const addDays = (iso, n) => fromDay(toDay(iso) + n * DAY_MS);
  const daysBetween = (a, b) => Math.round((toDay(b) - toDay(a)) / DAY_MS);

  const rows = (table) => {
    const names = Object.keys(table);
    const n = names.length ? table[names[0]].length : 0;
    const out = [];
    for (let i = 0; i < n; i++) {
      const row = {};
      for (const name of names) row[name] = table[name][i];
      out.push(row);
    }
    return out;
  };
  const channelDays = rows(data.channels);
  const agentDays = rows(data.agents);
  const hourDays = rows(data.hours);

  const allDays = [...new Set(channelDays.map((r) => r.order_date))].sort();
  const first = allDays[0];
  const last = allDays[allDays.length - 1];
  const totals = {};
  for (const r of channelDays) totals[r.channel] = (totals[r.channel] || 0) + r.revenue_cents;
  const channels = Object.keys(totals).sort((a, b) => totals[b] - totals[a] || a.localeCompare(b));
  const colors = {};
  let spare = 0;
  for (const c of channels) colors[c] = data.channel_colors[c] || PALETTE[spare++ % PALETTE.length];

  const fromInput = document.getElementById("date-from");
  const toInput = document.getElementById("date-to");
  const channelBox = document.getElementById("channels");

  // --- the filter ------------------------------------------------------------------------------
  for (const c of channels) {
    const label = document.createElement("label");
    label.style.color = colors[c];
    label.innerHTML = '<input type="checkbox" checked> ';
    label.firstChild.value = c;
    label.appendChild(document.createTextNode(c));
    channelBox.appendChild(label);
  }
  const selectedChannels = () =>
    new Set([...channelBox.querySelectorAll("input:checked")].map((i) => i.value));

  function range() {
    let a = fromInput.value || first;
    let b = toInput.value || last;
    if (a > b) [a, b] = [b, a];
    return [a, b];
  }

  // --- sums ------------------------------------------------------------------------------------
  function sumChannels(a, b, chosen) {
    const s = { orders: 0, revenue: 0, refunded: 0, cancelled: 0, days: 0 };
    const seen = new Set();
    for (const r of channelDays) {
      if (r.order_date < a || r.order_date > b || !chosen.has(r.channel)) continue;
      s.orders += r.orders;
      s.revenue += r.revenue_cents;
      s.refunded += r.refunded_cents;
      s.cancelled += r.cancelled_cents;
      seen.add(r.order_date);
    }
    s.days = seen.size;
    s.agents = new Set(agentDays.filter((r) => r.order_date >= a && r.order_date <= b).map((r) => r.agent_id)).size;
    s.aov = s.orders ? s.revenue / s.orders : null;
    return s;
  }

  const KPIS = [
    ["revenue", (s) => s.revenue, fmtMoney],
    ["orders", (s) => s.orders, (v) => count.format(v)],
    ["aov", (s) => s.aov, (v) => (v === null ? "none" : fmtMoney(v))],
    ["refunded", (s) => s.refunded, fmtMoney],
    ["cancelled", (s) => s.cancelled, fmtMoney],
    ["agents", (s) => s.agents, (v) => count.format(v)],
  ];

  function drawKpis(a, b, chosen) {
    const now = sumChannels(a, b, chosen);
    if (first === undefined) {
      for (const [key, value, format] of KPIS) {
        document.querySelector(`#kpi-${key} .value`).textContent = format(value(now));
      }
      document.getElementById("period").textContent = "No completed orders in gold.aov_daily yet.";
      return;
    }
    const length = daysBetween(a, b) + 1;
    const prevA = addDays(a, -length);
    const prevB = addDays(a, -1);
    // A previous period that starts before the data does is only partly there: no change shown.
    const before = prevA >= first ? sumChannels(prevA, prevB, chosen) : null;
    for (const [key, value, format] of KPIS) {
      const tile = document.getElementById("kpi-" + key);
      const v = value(now);
      tile.querySelector(".value").textContent = format(v);
      const change = tile.querySelector(".change");
      change.className = "change";
      if (!before) {
        change.textContent = `no previous ${length} days in the data`;
        continue;
      }
      const p = value(before);
      if (v === null || p === null || p === 0) {
        change.textContent = `previous ${length} days: ${p === null ? "none" : format(p)}`;
        continue;
      }
      const pct = ((v - p) / Math.abs(p)) * 100;
      change.textContent = `${pct >= 0 ? "+" : ""}${pct.toFixed(1)}% vs ${prevA} to ${prevB}`;
      change.classList.add(pct >= 0 ? "up" : "down");
    }
    document.getElementById("period").textContent = `${a} to ${b}: ${length} days, ${now.days} with completed orders.`;
  }

  // --- charts ----------------------------------------------------------------------------------
  function empty(id, table) {
    Plotly.react(
      id,
      [],
      {
        xaxis: { visible: false },
        yaxis: { visible: false },
        annotations: [{ text: `No rows in ${table} for this selection`, showarrow: false, font: { size: 15, color: "#777" } }],
        margin: { t: 20, b: 20 },
      },
      CONFIG,
    );
  }

  // A horizontal bar chart, largest first at the top: AOV per channel, the agent leaderboard,
  // customers per segment.
  function hbar(id, xTitle, trace) {
    Plotly.react(
      id,
      [{ type: "bar", orientation: "h", ...trace }],
      { yaxis: { autorange: "reversed", automargin: true }, xaxis: { title: { text: xTitle } }, margin: { t: 20, r: 10 } },
      CONFIG,
    );
  }

  function drawRevenue(a, b, chosen) {
    const traces = [];
    for (const c of channels) {
      if (!chosen.has(c)) continue;
      const mine = channelDays.filter((r) => r.channel === c && r.order_date >= a && r.order_date <= b);
      if (!mine.length) continue;
      traces.push({
        type: "bar",
        name: c,
        x: mine.map((r) => r.order_date),
        y: mine.map((r) => r.revenue_cents / 100),
        customdata: mine.map((r) => r.orders),
        marker: { color: colors[c] },
        hovertemplate: `%{x|%a %Y-%m-%d}<br>${c}: %{y:,.2f} ${CUR}<br>%{customdata:,} orders<extra></extra>`,
      });
    }
    if (!traces.length) return empty("chart-revenue", "gold.aov_daily");
    Plotly.react(
      "chart-revenue",
      traces,
      {
        barmode: "stack",
        xaxis: { type: "date", range: [addDays(a, -1) + " 12:00", b + " 12:00"] },
        yaxis: { title: { text: `revenue (${CUR})` }, tickformat: ",.0f" },
        legend: { title: { text: "channel" } },
        margin: { t: 20, r: 10 },
        hovermode: "closest",
      },
      CONFIG,
    );
  }

  function drawAov(a, b, chosen) {
    const byDay = {};
    for (const r of channelDays) {
      if (r.order_date < a || r.order_date > b || !chosen.has(r.channel)) continue;
      const d = (byDay[r.order_date] = byDay[r.order_date] || { orders: 0, revenue: 0 });
      d.orders += r.orders;
      d.revenue += r.revenue_cents;
    }
    // One point per calendar day, null on a day without orders, so the line breaks at a gap.
    const x = [];
    const y = [];
    for (let d = a; d <= b; d = addDays(d, 1)) {
      x.push(d);
      const day = byDay[d];
      y.push(day && day.orders ? day.revenue / day.orders / 100 : null);
    }
    if (!y.some((v) => v !== null)) empty("chart-aov", "gold.aov_daily");
    else
      Plotly.react(
        "chart-aov",
        [
          {
            type: "scatter",
            mode: "lines+markers",
            name: "AOV",
            x,
            y,
            connectgaps: false,
            line: { color: "#333" },
            marker: { size: 4 },
            hovertemplate: `%{x|%a %Y-%m-%d}<br>AOV %{y:,.2f} ${CUR}<extra></extra>`,
          },
        ],
        { xaxis: { type: "date" }, yaxis: { title: { text: `AOV (${CUR})` }, tickformat: ",.0f" }, margin: { t: 20, r: 10 } },
        CONFIG,
      );

    const per = channels
      .filter((c) => chosen.has(c))
      .map((c) => ({ c, s: sumChannels(a, b, new Set([c])) }))
      .filter((p) => p.s.orders > 0);
    if (!per.length) return empty("chart-channel-aov", "gold.aov_daily");
    hbar("chart-channel-aov", `AOV (${CUR})`, {
      y: per.map((p) => p.c),
      x: per.map((p) => p.s.aov / 100),
      customdata: per.map((p) => [p.s.orders, p.s.revenue / 100]),
      marker: { color: per.map((p) => colors[p.c]) },
      hovertemplate: `%{y}: AOV %{x:,.2f} ${CUR}<br>%{customdata[0]:,} orders, %{customdata[1]:,.2f} ${CUR}<extra></extra>`,
    });
  }

  function drawHours(a, b) {
    const orders = WEEKDAYS.map(() => new Array(24).fill(0));
    const revenue = WEEKDAYS.map(() => new Array(24).fill(0));
    let any = false;
    for (const r of hourDays) {
      if (r.order_date < a || r.order_date > b) continue;
      orders[r.day_of_week - 1][r.hour_of_day] += r.orders;
      revenue[r.day_of_week - 1][r.hour_of_day] += r.revenue_cents / 100;
      any = true;
    }
    if (!any) return empty("chart-hours", "gold.peak_hours_daily");
    const hours = [...Array(24).keys()].map((h) => String(h).padStart(2, "0") + ":00");
    Plotly.react(
      "chart-hours",
      [
        {
          type: "heatmap",
          z: orders,
          x: hours,
          y: WEEKDAYS,
          customdata: revenue,
          colorscale: "YlOrRd",
          reversescale: true,
          colorbar: { title: { text: "orders" } },
          hovertemplate: `%{y} %{x} (${data.reporting_tz})<br>%{z:,} orders<br>%{customdata:,.2f} ${CUR}<extra></extra>`,
        },
      ],
      { yaxis: { autorange: "reversed" }, xaxis: { title: { text: `hour of day (${data.reporting_tz})` } }, margin: { t: 20 } },
      CONFIG,
    );
  }

  function drawAgents(a, b) {
    const by = {};
    for (const r of agentDays) {
      if (r.order_date < a || r.order_date > b) continue;
      const s = (by[r.agent_id] = by[r.agent_id] || { id: r.agent_id, name: r.agent_name, orders: 0, revenue: 0 });
      s.orders += r.orders;
      s.revenue += r.revenue_cents;
    }
    const top = Object.values(by)
      .sort((p, q) => q.revenue - p.revenue || p.id.localeCompare(q.id))
      .slice(0, 10);
    const table = document.getElementById("agents-table");
    if (!top.length) {
      table.textContent = "";
      return empty("chart-agents", "gold.agent_performance");
    }
    const label = (s) => (s.name ? `${s.name} (${s.id})` : s.id);
    hbar("chart-agents", `revenue (${CUR})`, {
      y: top.map(label),
      x: top.map((s) => s.revenue / 100),
      customdata: top.map((s) => s.orders),
      marker: { color: "#dd8452" },
      hovertemplate: `%{y}<br>%{x:,.2f} ${CUR}, %{customdata:,} orders<extra></extra>`,
    });
    const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (ch) => `&#${ch.charCodeAt(0)};`);
    table.innerHTML =
      `<table><tr><th>#</th><th>agent</th><th>name</th><th class=n>orders</th><th class=n>revenue (${esc(CUR)})</th><th class=n>AOV</th></tr>` +
      top
        .map(
          (s, i) =>
            `<tr><td>${i + 1}</td><td>${esc(s.id)}</td><td>${esc(s.name)}</td><td class=n>${count.format(s.orders)}</td>` +
            `<td class=n>${fmtMoney(s.revenue)}</td><td class=n>${s.orders ? fmtMoney(s.revenue / s.orders) : ""}</td></tr>`,
        )
        .join("") +
      "</table>";
  }

  function drawSegments() {
    const segs = data.segments;
    if (!segs.length) return empty("chart-segments", "gold.customer_rfm");
    hbar("chart-segments", "customers", {
      y: segs.map((s) => s.segment),
      x: segs.map((s) => s.customers),
      customdata: segs.map((s) => s.revenue_cents / 100),
      marker: { color: "#4c72b0" },
      hovertemplate: `%{y}: %{x:,} customers<br>%{customdata:,.2f} ${CUR}<extra></extra>`,
    });
  }

  function drawMigration() {
    const moves = data.moves;
    if (!moves.length) return empty("chart-migration", "gold.segment_migration");
    const present = new Set(moves.flatMap((m) => [m.from_segment, m.to_segment]));
    const order = data.segment_order.filter((s) => present.has(s));
    for (const s of present) if (!order.includes(s)) order.push(s);
    const from = order.filter((s) => moves.some((m) => m.from_segment === s));
    const to = order.filter((s) => moves.some((m) => m.to_segment === s));
    const z = from.map((f) => to.map((t) => moves.filter((m) => m.from_segment === f && m.to_segment === t).reduce((n, m) => n + m.customers, 0)));
    Plotly.react(
      "chart-migration",
      [
        {
          type: "heatmap",
          z,
          x: to,
          y: from,
          colorscale: "Blues",
          reversescale: true, // Plotly's Blues runs dark to light: more customers darker
          texttemplate: "%{z:,}",
          colorbar: { title: { text: "customers" } },
          hovertemplate: `%{y} -> %{x}<br>%{z:,} customers (as of ${moves[0].as_of_date})<extra></extra>`,
        },
      ],
      {
        yaxis: { autorange: "reversed", automargin: true, title: { text: "previous month end" } },
        xaxis: { automargin: true, title: { text: `as of ${moves[0].as_of_date}` } },
        margin: { t: 20 },
      },
      CONFIG,
    );
  }

  function drawCohorts() {
    const cohorts = rows(data.cohorts);
    if (!cohorts.length) return empty("chart-cohorts", "gold.cohort_retention");
    const months = [...new Set(cohorts.map((c) => c.cohort_month))].sort();
    const width = Math.max(...cohorts.map((c) => c.months_since_first)) + 1;
    const z = months.map(() => new Array(width).fill(null));
    const text = months.map(() => new Array(width).fill(""));
    for (const c of cohorts) {
      const i = months.indexOf(c.cohort_month);
      z[i][c.months_since_first] = c.retention_rate;
      text[i][c.months_since_first] = `${count.format(c.retained_customers)} of ${count.format(c.customers)}`;
    }
    Plotly.react(
      "chart-cohorts",
      [
        {
          type: "heatmap",
          z,
          x: [...Array(width).keys()],
          y: months.map((m) => m.slice(0, 7)),
          text,
          zmin: 0,
          zmax: 1,
          colorscale: "Greens",
          reversescale: true, // Plotly's Greens runs dark to light: higher retention darker
          texttemplate: "%{z:.0%}",
          colorbar: { title: { text: "retained" }, tickformat: ".0%" },
          hovertemplate: "cohort %{y}, month %{x}<br>%{z:.1%} retained (%{text} customers)<extra></extra>",
        },
      ],
      {
        yaxis: { autorange: "reversed", type: "category", title: { text: "first order in" } },
        xaxis: { dtick: 1, title: { text: "months since the first order" } },
        margin: { t: 20 },
      },
      CONFIG,
    );
  }

  function draw() {
    if (first === undefined) {
      drawKpis("", "", new Set());
      for (const [id, table] of [
        ["chart-revenue", "gold.aov_daily"],
        ["chart-aov", "gold.aov_daily"],
        ["chart-channel-aov", "gold.aov_daily"],
        ["chart-hours", "gold.peak_hours_daily"],
        ["chart-agents", "gold.agent_performance"],
      ])
        empty(id, table);
      return;
    }
    const [a, b] = range();
    const chosen = selectedChannels();
    drawKpis(a, b, chosen);
    drawRevenue(a, b, chosen);
    drawAov(a, b, chosen);
    drawHours(a, b);
    drawAgents(a, b);
  }

  if (first === undefined) {
    for (const el of document.querySelectorAll("#filters input, #filters button")) el.disabled = true;
  } else {
    for (const input of [fromInput, toInput]) {
      input.min = first;
      input.max = last;
    }
    fromInput.value = first;
    toInput.value = last;
  }
  fromInput.addEventListener("change", draw);
  toInput.addEventListener("change", draw);
  channelBox.addEventListener("change", draw);
  for (const button of document.querySelectorAll("#presets button")) {
    button.addEventListener("click", () => {
      const n = Number(button.dataset.days);
      fromInput.value = n && addDays(last, 1 - n) > first ? addDays(last, 1 - n) : first;
      toInput.value = last;
      draw();
    });
  }
  drawSegments();
  drawMigration();
  drawCohorts();
  draw();
  document.body.dataset.ready = "true";
})();
