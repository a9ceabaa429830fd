// Panel: start a continue-training job (token, epochs, samples, promotion policy), follow
// its progress per epoch, then show the version it published.

import { api, el, sleep } from "./common.js";

function field(id, text, input, help) {
  return el("div", { class: "row" }, el("label", { for: id, text }), input, ...(help ? [" ", help] : []));
}

export default {
  id: "train",
  title: "Train it further",
  mount(section, dashboard) {
    const token = el("input", { type: "password", id: "token", autocomplete: "off", required: "",
                                "aria-describedby": "token-help" });
    const epochs = el("input", { type: "number", id: "epochs", min: "1", max: "500", value: "5", required: "" });
    const samples = el("input", { type: "number", id: "samples", min: "100", max: "200000", value: "5000", required: "" });
    const promote = el("select", { id: "promote" },
      el("option", { value: "if_better", text: "if better on held-out data" }),
      el("option", { value: "always", text: "always" }), el("option", { value: "never", text: "never" }));
    const submit = el("button", { type: "submit", id: "submit", text: "Start a job" });
    const form = el("form", { id: "train-form" },
      field("token", "Token", token, el("span", { id: "token-help", class: "muted", text: "the value of TINYMLP_TRAIN_TOKEN" })),
      field("epochs", "Epochs", epochs), field("samples", "Samples", samples), field("promote", "Promote", promote), submit);
    const status = el("p", { id: "job-status" });
    const progress = el("ol", { id: "job-progress", class: "muted" });
    // A job trains on fresh data drawn from the model's task; an imported model has none.
    const imported = el("p", { id: "train-note", class: "muted", hidden: "",
      text: "This model was imported: it has no task to draw training data from, so it cannot be trained "
        + "further here. Import a new version instead." });
    section.append(imported, form, el("div", { "aria-live": "polite" }, status, progress));

    const name = encodeURIComponent(dashboard.name);

    // Each server process notices a new version within its reload interval (about a second):
    // ask until several answers in a row (from whichever processes answer) know it.
    async function untilServed(version) {
      let inARow = 0;
      for (let i = 0; i < 60 && inARow < 3; i++) {
        const m = await api("GET", `/models/${name}`);
        inARow = m.versions.includes(version) ? inARow + 1 : 0;
        if (inARow < 3) await sleep(200);
      }
    }

    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const auth = { Authorization: `Bearer ${token.value}` };
      submit.disabled = true;
      progress.replaceChildren();
      try {
        let job = await api("POST", `/train/${name}`, {
          epochs: Number(epochs.value), samples: Number(samples.value), promote: promote.value }, auth);
        status.textContent = `Job ${job.id} queued (from version ${job.parent_version}).`;
        while (job.status === "queued" || job.status === "running") {
          await sleep(400);
          job = await api("GET", `/train/jobs/${job.id}`, undefined, auth);
          status.textContent = `Job ${job.id}: ${job.status}, epoch ${job.progress.length} of ${job.params.epochs || 10}`;
          progress.replaceChildren(...job.progress.map((p) =>
            el("li", { text: `epoch ${p.epoch}: loss ${p.loss.toFixed(4)}, metric ${p.metric.toFixed(4)}` })));
        }
        if (job.status === "succeeded") {
          status.textContent = `Job ${job.id} succeeded: published version ${job.published_version}`
            + ` (${job.promoted ? "promoted" : "not promoted"}: ${job.promotion.reason}).`;
          await untilServed(job.published_version);
          await dashboard.reload();
          dashboard.choose(job.published_version);
        } else {
          status.textContent = `Job ${job.id} ${job.status}: ${job.error}`;
        }
      } catch (e) {
        status.textContent = `Could not run the job: ${e.message}`;
      } finally {
        submit.disabled = false;
      }
    });
    return {
      model(model) {
        form.hidden = model.task === null;
        imported.hidden = model.task !== null;
      },
    };
  },
};
