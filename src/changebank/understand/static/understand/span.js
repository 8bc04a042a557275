// Progressive enhancement: selecting words in the submission fills the "Code highlighted words"
// form with the words and their offsets (UTF-16 code units, converted on the server). Without
// this script the analyst types the words instead.
const text = document.getElementById('submission-text')
const form = text && document.getElementById(text.dataset.spanTarget)

function offsetWithin (container, node, offset) {
  const range = document.createRange()
  range.selectNodeContents(container)
  range.setEnd(node, offset)
  return range.toString().length
}

function capture () {
  const selection = window.getSelection()
  if (!selection || selection.rangeCount === 0 || selection.isCollapsed) return
  const range = selection.getRangeAt(0)
  if (!text.contains(range.startContainer) || !text.contains(range.endContainer)) return
  const start = offsetWithin(text, range.startContainer, range.startOffset)
  const end = offsetWithin(text, range.endContainer, range.endOffset)
  if (end <= start) return
  form.elements.start16.value = String(start)
  form.elements.end16.value = String(end)
  form.elements.words.value = text.textContent.slice(start, end)
}

if (text && form) {
  text.addEventListener('mouseup', capture)
  text.addEventListener('keyup', capture)
  form.elements.words.addEventListener('input', () => {
    form.elements.start16.value = ''
    form.elements.end16.value = ''
  })
}
