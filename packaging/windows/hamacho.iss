; Inno Setup script: wraps the PyInstaller one-folder build (dist\hamacho) into HamachoSetup-<version>.exe.
;
;   py -3.11 -m venv .venv-build && .venv-build\Scripts\python -m pip install . pyinstaller
;   .venv-build\Scripts\python -m PyInstaller --noconfirm --clean --distpath dist --workpath build packaging\hamacho.spec
;   "C:\Program Files (x86)\Inno Setup 6\ISCC.exe" /DAppVersion=0.2.0 packaging\windows\hamacho.iss
;
; The build is the same spec as on Linux: ONNX Runtime, OpenCV, faiss, Qt and the bundled ONNX graph; no torch,
; no CUDA (the spec refuses to freeze them; install the venv without the [torch] extra).  On Windows it has two
; executables: hamacho-gui.exe (windowed) and hamacho.exe (console).
;
; Installs per machine into Program Files (or per user when the technician has no admin rights), with a
; Start menu entry, an optional desktop icon and an uninstaller.  User data (models, logs, settings) lives
; in %LOCALAPPDATA%\hamacho and is kept on uninstall.

#ifndef AppVersion
  #define AppVersion "0.2.0"
#endif
#define AppName "Hamacho"
#define DistDir "..\..\dist\hamacho"

[Setup]
AppId={{6E0B5D1C-4B8A-4F7E-9C1D-3A2F6B8E9D10}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=Hamacho developers
DefaultDirName={autopf}\Hamacho
DefaultGroupName=Hamacho
DisableProgramGroupPage=yes
PrivilegesRequired=admin
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=HamachoSetup-{#AppVersion}
SetupIconFile=..\..\resources\hamacho.ico
UninstallDisplayIcon={app}\hamacho-gui.exe
; The one-folder build is ~0.6 GB (no torch/CUDA), so one installer file without disk spanning.
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#DistDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\Hamacho"; Filename: "{app}\hamacho-gui.exe"
Name: "{group}\Hamacho self-test"; Filename: "{app}\hamacho-gui.exe"; Parameters: "--self-test"
Name: "{group}\{cm:UninstallProgram,Hamacho}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\Hamacho"; Filename: "{app}\hamacho-gui.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\hamacho-gui.exe"; Description: "{cm:LaunchProgram,Hamacho}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
Type: filesandordirs; Name: "{app}\_internal"
