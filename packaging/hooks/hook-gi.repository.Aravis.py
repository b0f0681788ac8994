"""PyInstaller hook: GenICam cameras (``hamacho_core.live.genicam``) need Aravis's typelib and shared
library; they are carried in the app, so a station needs no Aravis package (the typelib's own
dependencies, GLib/GObject/Gio, come through PyInstaller's gi hooks)."""

from PyInstaller.utils.hooks.gi import GiModuleInfo

module_info = GiModuleInfo("Aravis", "0.8")
if module_info.available:
    binaries, datas, hiddenimports = module_info.collect_typelib_data()
    hiddenimports += ["gi.repository.Gio", "gi.repository.GObject", "gi.repository.GLib"]
