// The course map: each lab link that carries a setup (data-state, the lab's shared-link state)
// gets it as the #s= hash the lab reads on load (state.js), so the lab opens set up.
import { $$ } from "./ui.js";
import { encodeState } from "./state.js";

for (const link of $$("a.course-lab[data-state]")) {
  link.href = `${link.pathname}#s=${encodeState(JSON.parse(link.dataset.state))}`;
}
