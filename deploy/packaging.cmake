# Installation and the Debian package (deploy/README.md "Packaging"):
#   cmake --install build                     binaries, units, examples under the prefix
#   cd build && cpack -G DEB                  sipline_<version>_<arch>.deb (prefix /usr)
# Only what runs a proxy is installed: sipline, siplinectl, the systemd units, the shipped
# configuration (/etc/sipline/sipline.toml) and the examples; no test, no benchmark.
include(GNUInstallDirs)

install(TARGETS sipline siplinectl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# The config lives in /etc whatever the prefix (a conffile in the package). A hand install
# (cmake --install) never overwrites one that is there: it is the operator's. (file(INSTALL)
# adds DESTDIR to the destination itself.)
install(CODE "
  if(NOT EXISTS \"\$ENV{DESTDIR}/etc/sipline/sipline.toml\")
    file(INSTALL \"${CMAKE_SOURCE_DIR}/config/sipline.toml\" DESTINATION /etc/sipline)
  endif()
")
install(FILES ${CMAKE_SOURCE_DIR}/deploy/sipline-dpdk.example.toml
              ${CMAKE_SOURCE_DIR}/config/sipline.toml
              ${CMAKE_SOURCE_DIR}/deploy/sipline.logrotate
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${CMAKE_SOURCE_DIR}/config/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR}
        RENAME config.md)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR}
        RENAME deploy.md)
install(PROGRAMS ${CMAKE_SOURCE_DIR}/deploy/hugepages.sh ${CMAKE_SOURCE_DIR}/deploy/bind-nic.sh
        DESTINATION ${CMAKE_INSTALL_DATADIR}/sipline)

# The units name /usr/local paths (a hand install); installed, they name the prefix they are
# installed under: decided at install time, since CPack installs under its own prefix (/usr).
foreach(unit sipline.service sipline-dpdk.service)
  install(CODE "
    file(READ \"${CMAKE_SOURCE_DIR}/deploy/${unit}\" text)
    string(REPLACE \"/usr/local/\" \"\${CMAKE_INSTALL_PREFIX}/\" text \"\${text}\")
    file(WRITE \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/systemd/system/${unit}\" \"\${text}\")
    message(STATUS \"Installing: \$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/systemd/system/${unit}\")
  ")
endforeach()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME sipline)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_CONTACT "sipline maintainers <sipline@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "SIP proxy (RFC 3261) with a DPDK dataplane")
set(CPACK_PACKAGE_DESCRIPTION
    "Poll-mode workers parse SIP over UDP with a zero-copy parser and forward statelessly or redirect; a control thread registers and authenticates phones, probes server pools and serves siplinectl and Prometheus. Kernel sockets (sipline.service) or DPDK (sipline-dpdk.service).")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # Depends: from the binaries' libraries (dpkg-shlibdeps)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_SOURCE_DIR}/deploy/debian/postinst
                                       ${CMAKE_SOURCE_DIR}/deploy/debian/conffiles)
include(CPack)
