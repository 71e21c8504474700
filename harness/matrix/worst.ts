// Which of several cell states to show when one mark stands for several cells: the pods of one Service with
// `--per-pod`, or a whole block of the large-estate summary grid. Not CELL_STATES' order (types.ts lists them as the
// picture's legend reads, `inconclusive` last): folding by that order would draw a Service whose one pod was proven
// refused and whose other pod was never proven as "refused", a false pass. Here anything unproven outranks a proof:
// a hole, a grant beyond the intent, an inconclusive attack, a cell the model could not judge, then a grant, and a
// proven refusal only when every cell folded is one.
import type { CellState } from './types.js';

export const FOLD_ORDER: CellState[] = ['hole', 'beyond-intent', 'inconclusive', 'not-judged', 'granted', 'refused'];

/** The state that must be shown for these cells together. */
export function worstState(states: Iterable<CellState>): CellState {
  let worst: CellState = 'refused';
  for (const s of states) if (FOLD_ORDER.indexOf(s) < FOLD_ORDER.indexOf(worst)) worst = s;
  return worst;
}
