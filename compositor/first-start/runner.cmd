@echo off
rem Lamina's first-start runner, placed by the compositor with the layers' scripts (compositor/scripts-runner.ts).
rem Started once at boot, before anyone logs on, as LocalSystem by the LaminaFirstStart service entry in the
rem SYSTEM hive. The service control manager waits 30 s for a service to answer and then gives up on it, so
rem the work runs detached in PowerShell (runner.ps1, beside this file), which removes the entry when done.
start "Lamina first start" /b "%SystemRoot%\System32\WindowsPowerShell\v1.0\powershell.exe" -NoProfile -NonInteractive -ExecutionPolicy Bypass -File "%~dp0runner.ps1"
