# Lamina's first-start runner (compositor/scripts-runner.ts places it; runner.cmd starts it).
#
# Runs every layer's first-start scripts once, layer by layer in priority order (the folders under
# scripts\ are numbered lowest priority first), each layer's scripts in name order: .ps1 with
# PowerShell, .cmd and .bat with cmd. Then it reports through the connector's channel:
#   vSphere: guestinfo.lamina.scripts, set with VMware Tools (vmtoolsd --cmd "info-set ...");
#   any machine: $env:ProgramData\Lamina\scripts-report.json (the local connector reads this file).
# The report is {"ok": bool, "reportedAt": ISO time, "detail": text}. Finally the service entry that
# started it is deleted, so the scripts run only on the first start.
$ErrorActionPreference = 'Continue'
$root = Split-Path -Parent $MyInvocation.MyCommand.Path
$scriptsDir = Join-Path $root 'scripts'
$log = Join-Path $root 'runner.log'
$failed = @()
$ran = 0

function Write-Log([string]$line) {
  Add-Content -LiteralPath $log -Value ("{0:o} {1}" -f (Get-Date).ToUniversalTime(), $line)
}

$layers = @(Get-ChildItem -LiteralPath $scriptsDir -Directory -ErrorAction SilentlyContinue | Sort-Object Name)
foreach ($layer in $layers) {
  $scripts = @(Get-ChildItem -LiteralPath $layer.FullName -File -Recurse |
      Where-Object { @('.ps1', '.cmd', '.bat') -contains $_.Extension.ToLowerInvariant() } |
      Sort-Object FullName)
  foreach ($script in $scripts) {
    $name = "$($layer.Name)\$($script.Name)"
    Write-Log "running $name"
    try {
      if ($script.Extension -ieq '.ps1') {
        & "$PSHOME\powershell.exe" -NoProfile -NonInteractive -ExecutionPolicy Bypass -File $script.FullName *>> $log
      } else {
        & "$env:SystemRoot\System32\cmd.exe" /c "`"$($script.FullName)`"" *>> $log
      }
      $code = $LASTEXITCODE
    } catch {
      Write-Log "$name could not start: $_"
      $code = -1
    }
    $ran++
    if ($code -ne 0) { $failed += "$name exited with $code" }
    Write-Log "$name exited with $code"
  }
}

$detail = if ($failed.Count -eq 0) { "$ran layer script(s) ran" } else { ($failed -join '; ') }
$report = @{ ok = ($failed.Count -eq 0); reportedAt = (Get-Date).ToUniversalTime().ToString('o'); detail = $detail } |
  ConvertTo-Json -Compress

$reportFile = Join-Path $env:ProgramData 'Lamina\scripts-report.json'
New-Item -ItemType Directory -Force -Path (Split-Path -Parent $reportFile) | Out-Null
Set-Content -LiteralPath $reportFile -Value $report -Encoding UTF8
$tools = Join-Path $env:ProgramFiles 'VMware\VMware Tools\vmtoolsd.exe'
if (Test-Path -LiteralPath $tools) { & $tools --cmd "info-set guestinfo.lamina.scripts $report" }
Write-Log "reported: $report"

& "$env:SystemRoot\System32\sc.exe" delete LaminaFirstStart *>> $log
