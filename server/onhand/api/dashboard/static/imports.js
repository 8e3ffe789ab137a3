// Import jobs, newest first; a running one's progress follows its importProgress stream.
// The list is asked again every few seconds while shown, so a new import appears.
import { badge, h, num, replace, table, when } from "./dom.js";

const QUERY = `query DashboardImports {
  importJobs(first: 20) {
    nodes {
      id status phase fileName dryRun actor rowsTotal rowsDone created updated unchanged failed
      progress message createdAt finishedAt
    }
  }
}`;
const PROGRESS = `subscription DashboardImportProgress($id: ID!) {
  importProgress(id: $id) {
    id status phase rowsTotal rowsDone created updated unchanged failed progress message finishedAt
  }
}`;
const EVERY_MS = 3000;
const STATUS = { RUNNING: ["running", "Running"], SUCCEEDED: ["done", "Succeeded"], FAILED: ["failed", "Failed"] };

export function importsView(ctx) {
  const list = h("div", { class: "table-wrap" });
  const panel = h("section", { "aria-labelledby": "imports-title" }, h("h2", { id: "imports-title" }, "Imports"), list);
  const jobs = new Map();
  const following = new Map(); // job id -> the function ending its progress stream
  let timer = null;

  function progressCell(job) {
    const bar = h("progress", { max: 1, value: job.progress, "aria-label": `Progress of ${job.fileName || "import"}` });
    return h("td", { class: "progress" }, bar, h("span", { class: "num" }, ` ${num(job.rowsDone)} / ${num(job.rowsTotal)} rows`));
  }

  function render() {
    const rows = [...jobs.values()]
      .sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1))
      .map((job) => {
        const [kind, label] = STATUS[job.status];
        return {
          attrs: { dataset: { job: job.id, status: job.status } },
          cells: [
            job.fileName || "(pasted rows)",
            h("span", {}, badge(kind, label), job.dryRun ? " (dry run)" : "", job.status === "RUNNING" ? ` · ${job.phase.toLowerCase()}` : ""),
            progressCell(job),
            job.created,
            job.updated,
            job.unchanged,
            job.failed,
            job.actor,
            when(job.createdAt),
          ],
        };
      });
    replace(
      list,
      table(
        "Import jobs, newest first",
        ["File", "Status", "Progress", { label: "Created", num: true }, { label: "Updated", num: true }, { label: "Unchanged", num: true }, { label: "Failed", num: true }, "By", "Started"],
        rows,
        "No imports yet.",
      ),
    );
  }

  function follow(job) {
    if (job.status !== "RUNNING" || following.has(job.id)) return;
    const stop = ctx.live.subscribe(PROGRESS, () => ({ id: job.id }), (data) => {
      const now = data.importProgress;
      jobs.set(job.id, { ...jobs.get(job.id), ...now });
      if (now.status !== "RUNNING") {
        following.get(job.id)();
        following.delete(job.id);
      }
      render();
    });
    following.set(job.id, stop);
  }

  async function refresh() {
    try {
      const found = (await ctx.api.query(QUERY)).importJobs.nodes;
      for (const job of found) {
        jobs.set(job.id, job);
        follow(job);
      }
      render();
    } catch (error) {
      ctx.fail(list, error);
    }
  }

  return {
    id: "imports",
    label: "Imports",
    needs: ["READ_AUDIT"],
    panel,
    show: () => {
      refresh();
      clearInterval(timer);
      timer = setInterval(refresh, EVERY_MS);
    },
    hide: () => clearInterval(timer),
  };
}
