-- A second, editor-independent LSP client: Neovim's built-in client against
-- `lineprobe serve`. It opens the workload's source, runs lineprobe.profile
-- against the running workload, waits for the diagnostics (no sleeps: vim.wait
-- on a condition), asks for the hover of the hot line, and writes what it saw
-- as JSON for neovim.ts to check. Inputs come from the environment.
local env = vim.env
local result_path = env.LINEPROBE_RESULT
local seen = { heat = {}, errors = {} }

local function finish()
  local file = assert(io.open(result_path, 'w'))
  file:write(vim.json.encode(seen))
  file:close()
  vim.cmd('qall!')
end

local ok, err = pcall(function()
  local source = env.LINEPROBE_SOURCE
  local hot = tonumber(env.LINEPROBE_HOT_LINE) - 1 -- LSP lines are 0-based
  vim.cmd('edit ' .. vim.fn.fnameescape(source))
  local bufnr = vim.api.nvim_get_current_buf()
  vim.bo[bufnr].filetype = 'c'

  local client_id = vim.lsp.start_client({
    name = 'lineprobe',
    cmd = vim.split(env.LINEPROBE_SERVER_CMD, '\t', { plain = true }),
    root_dir = env.LINEPROBE_REPO,
    workspace_folders = { { uri = vim.uri_from_fname(env.LINEPROBE_REPO), name = 'lineprobe' } },
    init_options = { diagnosticThreshold = 1.0 },
    handlers = {
      ['lineprobe/heat'] = function(_, params)
        table.insert(seen.heat, params)
      end,
      ['window/showMessage'] = function(_, params)
        table.insert(seen.errors, params.message)
      end,
    },
  })
  assert(client_id, 'could not start the server')
  vim.lsp.buf_attach_client(bufnr, client_id)
  local client = vim.lsp.get_client_by_id(client_id)
  assert(vim.wait(30000, function() return client.initialized end, 50), 'server did not initialize')

  local started = vim.loop.hrtime()
  local profiled = nil
  client.request('workspace/executeCommand', {
    command = 'lineprobe.profile',
    arguments = { { pid = tonumber(env.LINEPROBE_PID), durationMs = 2000 } },
  }, function(request_err, response)
    profiled = request_err and { ok = false, error = request_err } or response
  end, bufnr)
  assert(vim.wait(60000, function() return profiled ~= nil end, 50), 'lineprobe.profile did not answer')
  seen.profile_ok = profiled.ok
  seen.profile_error = profiled.error
  seen.profile_s = (vim.loop.hrtime() - started) / 1e9

  -- publishDiagnostics arrives before the command's answer; wait anyway, it costs nothing.
  vim.wait(10000, function() return #vim.diagnostic.get(bufnr) > 0 end, 50)
  seen.diagnostics = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    table.insert(seen.diagnostics, { line = d.lnum, message = d.message, source = d.source, severity = d.severity })
  end

  local hover = nil
  client.request('textDocument/hover', {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = hot, character = 4 },
  }, function(_, response)
    hover = response or vim.NIL
  end, bufnr)
  assert(vim.wait(10000, function() return hover ~= nil end, 50), 'hover did not answer')
  if hover ~= vim.NIL and hover.contents then
    seen.hover = type(hover.contents) == 'table' and (hover.contents.value or vim.json.encode(hover.contents)) or hover.contents
  end

  client.stop()
  vim.wait(5000, function() return client.is_stopped() end, 50)
end)
if not ok then
  seen.failure = tostring(err)
end
finish()
