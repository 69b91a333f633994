import { createRoot } from "react-dom/client";
import "uplot/dist/uPlot.min.css";
import "./styles.css";
import { App } from "./ui/App";
import { Connection, wsUrl } from "./connection";
import { Store } from "./store";
import { startBench } from "./bench";

const store = new Store();
const params = new URLSearchParams(window.location.search);
const bench = Number(params.get("bench") ?? "0");
const conn = new Connection(store, wsUrl(window.location), "api/report/stats.csv");
if (bench > 0) startBench(store, bench);
else conn.connect();

const root = document.getElementById("root");
if (root) createRoot(root).render(<App store={store} conn={conn} bench={bench > 0} />);
