// The question page of `spanbert-qa serve`. Every piece of document text is put on the page as a text node
// (textContent), never as HTML, so a document holding <script> or <img onerror> is shown, not run.
"use strict";

const KEY_STORAGE = "spanbert-qa-api-key";
const TOP_K = 3;

const $ = (id) => document.getElementById(id);

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function setStatus(text, isError) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", Boolean(isError));
}

function percent(score) {
  return `${Math.round(Math.max(0, Math.min(1, score)) * 100)}%`;
}

// Offsets from the server count Unicode code points (Python string indices); JavaScript strings count UTF-16
// units, so the passage is split into code points before it is cut.
function highlighted(answer) {
  const paragraph = element("p", "passage");
  const chars = Array.from(answer.passage || "");
  const start = Math.max(0, answer.start - answer.passage_start);
  const end = Math.min(chars.length, answer.end - answer.passage_start);
  if (answer.passage_start > 0) paragraph.append("…");
  paragraph.append(chars.slice(0, start).join(""));
  paragraph.append(element("mark", "", chars.slice(start, end).join("")));
  paragraph.append(chars.slice(end).join(""));
  return paragraph;
}

// A file path is shown by its file name (the whole path is the tooltip); titles and URLs as they are.
function shortName(source) {
  if (!source || source.includes("://") || !source.includes("/")) return source;
  return source.slice(source.lastIndexOf("/") + 1) || source;
}

function card(answer, position) {
  const article = element("article", "answer");
  const title = element("h2");
  title.append(element("span", "rank", `${position}.`), element("span", "text", answer.answer));
  article.append(title);

  const confidence = element("div", "confidence");
  const bar = element("div", "bar");
  bar.setAttribute("role", "meter");
  bar.setAttribute("aria-valuemin", "0");
  bar.setAttribute("aria-valuemax", "100");
  bar.setAttribute("aria-valuenow", String(Math.round(answer.score * 100)));
  bar.setAttribute("aria-label", "Chance the answer is right");
  const fill = element("span", answer.score < 0.2 ? "low" : "");
  fill.style.width = percent(answer.score);
  bar.append(fill);
  confidence.append(bar, element("span", "score", `${percent(answer.score)} chance right`));
  article.append(confidence);

  article.append(highlighted(answer));
  const source = answer.source || answer.document_id;
  const where = answer.passage_rank ? ` · retriever rank ${answer.passage_rank}` : "";
  const line = element("p", "source", `Source: ${shortName(source)}${where}`);
  line.title = source;
  article.append(line);
  return article;
}

function render(payload) {
  const results = $("results");
  results.replaceChildren();
  const answers = payload.answers || [];
  const spans = answers.filter((a) => !a.no_answer && a.answer !== null);
  const abstained = Boolean(payload.not_found) || spans.length === 0;
  if (abstained) {
    const box = element("div", "not-found");
    box.setAttribute("role", "alert");
    box.append(element("h2", "", "Not found in your documents"));
    box.append(element("p", "", spans.length
      ? `The best guess below has a ${percent(spans[0].score)} chance of being right.`
      : "No passage of the indexed documents answers this question."));
    results.append(box);
    if (spans.length) results.append(element("h2", "guesses", "Best guesses"));
  }
  spans.forEach((answer, index) => results.append(card(answer, index + 1)));
  setStatus(abstained ? "" : `${spans.length} answer${spans.length === 1 ? "" : "s"}`);
}

function showKeyPrompt(message) {
  const form = $("key-form");
  $("key-message").textContent = message;
  form.hidden = false;
  $("api-key").focus();
}

async function ask(question) {
  const button = $("ask-button");
  button.disabled = true;
  setStatus("Searching your documents…");
  const headers = { "Content-Type": "application/json" };
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (key) headers.Authorization = `Bearer ${key}`;
  try {
    let response;
    try {
      response = await fetch("spanbert_qa/run", {
        method: "POST", headers, body: JSON.stringify({ question, top_k: TOP_K }),
      });
    } catch (error) {
      setStatus("The server could not be reached.", true);
      return;
    }
    if (response.status === 401) {
      $("results").replaceChildren();
      setStatus("");
      showKeyPrompt(key ? "That API key was not accepted. Enter the right one." : "This server needs an API key.");
      return;
    }
    let payload = null;
    try { payload = await response.json(); } catch (error) { payload = null; }
    if (!response.ok) {
      const detail = payload && typeof payload.detail === "string" ? payload.detail : `error ${response.status}`;
      setStatus(`The question could not be answered: ${detail}`, true);
      return;
    }
    $("key-form").hidden = true;
    render(payload);
  } finally {
    button.disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("ask-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const question = $("question").value.trim();
    if (question) ask(question);
  });
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY_STORAGE, key);
    $("api-key").value = "";
    const question = $("question").value.trim();
    $("question").focus();
    if (question) ask(question);
  });
});
