// VGG and the classic nets: VGG-16, AlexNet and LeNet-5 as their layer tables, computed by the
// lab's own shape inference (nothing is built), beside the pattern VGG teaches: 3×3 convs only,
// channels doubling after each pool, two stacked 3×3 seeing what one 5×5 sees with fewer weights.
// Wire: `reference` request/reply (docs/protocol-cnn.md §6).
import { $ } from "./ui.js";
import { esc } from "./cnn-views.js";
import { flops } from "./cnn-numbers.js";
import { fmtInt } from "./cnn-builder.js";

export class References {
  constructor(sock) {
    this.sock = sock;
    this.asked = false;
    $("#reference-name").addEventListener("change", () => this.request());
    sock.on("reference", (m) => this.show(m));
  }

  request() {
    this.asked = true;
    this.sock.send({ type: "reference", name: $("#reference-name").value });
  }

  show(m) {
    const rows = m.layers.filter((l) => l.kind !== "dropout").map((l) => {
      const field = l.rf ? `${l.rf[0]}×${l.rf[0]}` : "";
      return `<tr class="k-${l.kind}"><td class="num">${esc(l.name)}</td><td class="num">${l.shape.join(" × ")}</td>` +
        `<td class="num">${l.params ? fmtInt(l.params) : ""}</td><td class="num">${l.flops ? flops(l.flops) : ""}</td>` +
        `<td class="num">${field}</td><td>${esc(l.detail)}</td></tr>`;
    }).join("");
    $("#reference-note").innerHTML = `<b>${esc(m.title)}</b> (${m.year}) on ${m.input_shape.join(" × ")} inputs, ` +
      `${m.classes} classes: <b class="num" id="reference-params">${fmtInt(m.total_params)}</b> parameters, ` +
      `${flops(m.forward_flops)} per image forward. ${esc(m.note)}`;
    $("#reference-table").innerHTML = `<thead><tr><th>layer</th><th>output (C × H × W)</th><th>parameters</th>` +
      `<th>FLOPs / image</th><th>receptive field</th><th></th></tr></thead><tbody>${rows}</tbody>`;
    const [two, one, three, seven] = m.stacks;
    $("#reference-stacks").innerHTML = `<table class="cnn-table small"><thead><tr><th>64 → 64 channels</th><th>sees</th><th>weights</th></tr></thead><tbody>` +
      [two, one, three, seven].map((s) => `<tr><td>${esc(s.label)}</td><td class="num">${s.receptive_field}×${s.receptive_field}</td>` +
        `<td class="num">${fmtInt(s.weights)}</td></tr>`).join("") + "</tbody></table>" +
      `<p>Two 3×3 convs in a row see a 5×5 patch, as one 5×5 does, with ${fmtInt(two.weights)} weights instead of ` +
      `${fmtInt(one.weights)} (${Math.round((100 * two.weights) / one.weights)}%), and a ReLU in between; three see 7×7 ` +
      `with ${Math.round((100 * three.weights) / seven.weights)}% of one 7×7's weights.</p>`;
  }
}
